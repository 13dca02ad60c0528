"""One contract, every registered strategy (later strategies are covered automatically)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aioir import models, strategies

K = 3


def _net() -> torch.nn.Module:
    return models.build("tiny_unet", width=8)


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x, gt = torch.rand(4, 3, 10, 11, generator=g), torch.rand(4, 3, 10, 11, generator=g)
    return x, gt, torch.tensor([0, 2, 2, 0])  # task 1 absent


@pytest.mark.parametrize("name", strategies.names())
def test_strategy_contract(name: str) -> None:
    torch.manual_seed(0)
    net = _net()
    keys = list(net.state_dict())
    x, gt, tid = _batch(0)
    y_plain = net(x).detach()
    s = strategies.build(name, num_tasks=K)
    s.attach(net)
    assert list(net.state_dict()) == keys
    pred = net(x)
    assert torch.equal(pred.detach(), y_plain)
    out = s(pred, gt, tid)
    out.loss.backward()
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    for t in (out.task_losses, out.weights, out.present):
        assert t.shape == (K,)
        assert not t.requires_grad
    assert out.present.tolist() == [True, False, True]
    assert torch.isfinite(out.weights).all() and (out.weights >= 0).all()
    assert out.weights[1].item() == 0.0 and out.task_losses[1].item() == 0.0
    # the reported task losses are L1 means over each task's samples, computed by hand here
    p, g = pred.detach().numpy(), gt.numpy()
    for k in (0, 2):
        idx = [i for i in range(4) if tid[i] == k]
        ref = np.mean([np.abs(p[i] - g[i]).mean() for i in idx])
        assert out.task_losses[k].item() == pytest.approx(ref, rel=1e-5)
    s.after_step(out)
    s.detach()
    assert list(net.state_dict()) == keys

    # state_dict round trip into a fresh strategy attached to a fresh (identical) model
    net2 = _net()
    net2.load_state_dict(net.state_dict())
    s2 = strategies.build(name, num_tasks=K)
    s2.attach(net2)
    s2.load_state_dict(s.state_dict())
    s.attach(net)
    x, gt, tid = _batch(1)
    o1, o2 = s(net(x), gt, tid), s2(net2(x), gt, tid)
    assert torch.equal(o1.loss, o2.loss) and torch.equal(o1.weights, o2.weights)
    s.detach()
    s2.detach()
