"""The generative objective and the DDPM sampler against independent computations."""

from __future__ import annotations

import math

import torch

from aioir.models.diffusion.generative import draw_noise, generative_losses, sample_images
from aioir.models.diffusion.network import DiffusionNet
from aioir.models.diffusion.schedule import NoiseSchedule, eps_from_output


def test_generative_loss_is_the_ddpm_loss():
    torch.manual_seed(0)
    net = DiffusionNet(backbone_options={"width": 8}, timesteps=50, embed_dim=8)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x0 = torch.rand(3, 3, 12, 12)
    t, eps = draw_noise(net, x0, torch.Generator().manual_seed(1))
    assert t.min() >= 1 and t.max() <= 50
    losses = generative_losses(net, x0, t, eps)
    abar = torch.cumprod(1 - torch.linspace(0.002, 0.4, 50, dtype=torch.float64), 0)
    for i in range(3):
        ab = float(abar[int(t[i]) - 1])
        x_t = math.sqrt(ab) * x0[i : i + 1] + math.sqrt(1 - ab) * eps[i : i + 1]
        out = net(x_t, int(t[i]))
        assert torch.allclose(losses[i], ((out - eps[i : i + 1]) ** 2).mean(), atol=1e-6)


def test_x0_prediction_reads_eps_from_a_clean_estimate():
    s = NoiseSchedule(T=50)
    x0 = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    eps = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    t = torch.tensor([3, 40])
    x_t = s.q_sample(x0, t, eps)
    ab = s.abar(t)
    # a perfect clean-image output implies exactly the true noise
    got = eps_from_output("x0", x0, x_t, ab.sqrt(), (1 - ab).sqrt())
    assert torch.allclose(got, eps, atol=1e-10)
    assert eps_from_output("eps", eps, x_t, ab.sqrt(), (1 - ab).sqrt()) is eps


def test_sampler_lands_on_the_only_image_of_a_point_distribution(oracle):
    """With the exact noise, the last reverse step (t = 1, no noise) returns c exactly, whatever
    the chain did before: (x_1 - sqrt(beta_1) eps)/sqrt(alpha_1) = c when abar_1 = alpha_1."""
    c = torch.rand(1, 3, 8, 8)
    out = sample_images(oracle(c), 2, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out, c.expand(2, -1, -1, -1), atol=1e-4)


def test_pretraining_forward_has_no_prediction():
    torch.manual_seed(0)
    net = DiffusionNet(backbone_options={"width": 8}, timesteps=50, embed_dim=8)
    batch = {"lq": torch.rand(2, 3, 12, 12), "gt": torch.rand(2, 3, 12, 12),
             "task_id": torch.tensor([0, 0])}
    pred, aux = net.train_forward(batch, restore=False)
    assert pred is None and set(aux) == {"gen"} and aux["gen"].requires_grad
