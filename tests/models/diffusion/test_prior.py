"""The pre-training prior: importances from generative-loss gradients at theta_pre, and its file."""

from __future__ import annotations

import pytest
import torch

from aioir.models.diffusion.generative import draw_noise, generative_losses
from aioir.models.diffusion.network import DiffusionNet
from aioir.models.diffusion.prior import compute_prior, load_prior, save_prior


def test_prior_is_the_mean_squared_and_absolute_gradient(tmp_path):
    torch.manual_seed(0)
    net = DiffusionNet(backbone_options={"width": 8}, timesteps=25, embed_dim=8)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    batches = [torch.rand(2, 3, 12, 12), torch.rand(2, 3, 12, 12)]
    prior = compute_prior(net, batches, seed=7)
    # by hand, the same draws: one generator seeded 7, batches in order, eval mode
    g = torch.Generator().manual_seed(7)
    net.eval()
    grads = []
    for x0 in batches:
        t, eps = draw_noise(net, x0, g)
        loss = generative_losses(net, x0, t, eps).mean()
        g_all = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)
        grads.append(dict(zip([n for n, _ in net.named_parameters()], g_all)))
    name = "backbone.head.weight"
    expected_sq = (grads[0][name] ** 2 + grads[1][name] ** 2) / 2
    expected_abs = (grads[0][name].abs() + grads[1][name].abs()) / 2
    assert torch.allclose(prior.fisher[name], expected_sq, rtol=1e-5, atol=1e-12)
    assert torch.allclose(prior.absgrad[name], expected_abs, rtol=1e-5, atol=1e-12)
    assert torch.equal(prior.theta[name], net.backbone.head.weight)
    assert prior.count == 2
    path = save_prior(tmp_path / "prior.safetensors", prior)
    back = load_prior(path)
    assert back.count == 2 and back.meta["seed"] == "7"
    assert all(torch.equal(back.fisher[k], v) for k, v in prior.fisher.items())


def test_bad_prior_files(tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(FileNotFoundError, match="aioir diffusion pretrain"):
        load_prior(tmp_path / "none.safetensors")
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(1)}, str(other), metadata={"format": "aioir-backbone"})
    with pytest.raises(ValueError, match="not a diffusion prior"):
        load_prior(other)
