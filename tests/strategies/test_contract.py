"""One contract, every registered strategy (later strategies are covered automatically).

Per strategy: attaching changes neither the model's state_dict nor its output; one step through
the engine's backward contract (``backward`` + ``finish_backward``) gives finite gradients to the
network; tasks absent from the batch get weight 0, loss 0 and no state update; the reported task
losses are the pixel loss's per-task means (computed by hand); the pixel-loss option is honoured;
the state round-trips through ``state_dict`` into a fresh instance bit-exactly, over several
steps; ``after_step`` leaves absent tasks' state alone.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from aioir import models, strategies
from aioir.strategies.base import BackwardContext

K = 3


def _net() -> torch.nn.Module:
    return models.build("tiny_unet", width=8)


def _batch(seed: int, tid: list[int] | None = None):
    g = torch.Generator().manual_seed(seed)
    x, gt = torch.rand(4, 3, 10, 11, generator=g), torch.rand(4, 3, 10, 11, generator=g)
    return x, gt, torch.tensor(tid or [0, 2, 2, 0])  # task 1 absent


def _params(net, s):
    return [p for p in list(net.parameters()) + list(s.parameters()) if p.requires_grad]


def _step(net, s, x, gt, tid, opt=None):
    """One engine-like step: forward, backward contract, optional optimizer step, after_step."""
    out = s(net(x), gt, tid)
    params = _params(net, s)
    s.backward(out, BackwardContext(out.loss, None, 1.0, lambda t: t, 1, params))
    s.finish_backward(params, True)
    if opt is not None:
        opt.step()
        opt.zero_grad(set_to_none=True)
    s.after_step(out)
    return out


def _state_of(s) -> dict:
    return {k: v.clone() for k, v in s.state_dict().items()}


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
    state_before = _state_of(s)
    out = s(pred, gt, tid)
    params = _params(net, s)
    s.backward(out, BackwardContext(out.loss, None, 1.0, lambda t: t, 1, params))
    s.finish_backward(params, True)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    for t in (out.task_losses, out.weights, out.present):
        assert t.shape == (K,)
        assert not t.requires_grad
    assert out.present.tolist() == [True, False, True]
    assert torch.isfinite(out.weights).all()
    if name != "imtl":  # IMTL-G's closed-form coefficients may be negative (test_gradient.py)
        assert (out.weights >= 0).all()
    assert out.weights.sum().item() == pytest.approx(1.0, rel=1e-5)
    assert out.weights[1].item() == 0.0 and out.task_losses[1].item() == 0.0
    # the reported task losses are L1 means over each task's samples, computed by hand here
    p, g = pred.detach().numpy(), gt.numpy()
    for k in (0, 2):
        idx = [i for i in range(4) if tid[i] == k]
        ref = np.mean([np.abs(p[i] - g[i]).mean() for i in idx])
        assert out.task_losses[k].item() == pytest.approx(ref, rel=1e-5)
    s.after_step(out)
    # the absent task's entries of every per-task state tensor are untouched
    for key, value in s.state_dict().items():
        before = state_before[key]
        if value.dim() >= 1 and value.shape[-1] == K and "hist" not in key:
            assert torch.equal(value[..., 1], before[..., 1]), (name, key)
    s.detach()
    assert list(net.state_dict()) == keys


@pytest.mark.parametrize("name", strategies.names())
def test_state_round_trips_and_continues_bit_exactly(name: str) -> None:
    """Three steps, save, load into a fresh strategy on a copy of the net, two more steps each:
    identical losses, weights, gradients and states."""
    torch.manual_seed(0)
    net = _net()
    s = strategies.build(name, num_tasks=K)
    s.attach(net)
    opt = torch.optim.Adam(_params(net, s), lr=1e-3)
    for i in range(3):
        _step(net, s, *_batch(i, [0, 2, 1, 0] if i == 1 else None), opt=opt)
    net2 = _net()
    net2.load_state_dict(net.state_dict())
    s2 = strategies.build(name, num_tasks=K)
    s2.attach(net2)
    s2.load_state_dict(copy.deepcopy(s.state_dict()))
    opt2 = torch.optim.Adam(_params(net2, s2), lr=1e-3)
    # a copy, as a checkpoint file gives (torch shares Adam's "step" tensors otherwise)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    for i in range(3, 5):
        o1 = _step(net, s, *_batch(i), opt=opt)
        o2 = _step(net2, s2, *_batch(i), opt=opt2)
        assert torch.equal(o1.loss, o2.loss) and torch.equal(o1.weights, o2.weights), i
    for (k1, v1), (k2, v2) in zip(s.state_dict().items(), s2.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2), k1
    for a, b in zip(net.parameters(), net2.parameters()):
        assert torch.equal(a, b)
    s.detach()
    s2.detach()


@pytest.mark.parametrize("name", strategies.names())
@pytest.mark.parametrize("loss", ["l2", "charbonnier"])
def test_pixel_loss_option_is_honoured(name: str, loss: str) -> None:
    torch.manual_seed(0)
    net = _net()
    options = {"loss": loss}
    s = strategies.build(name, num_tasks=K, **options)
    s.attach(net)
    x, gt, tid = _batch(7)
    pred = net(x)
    out = s(pred, gt, tid)
    e = (pred.detach() - gt).double().numpy()
    rho = e**2 if loss == "l2" else np.sqrt(e**2 + 1e-3**2)
    for k in (0, 2):
        idx = [i for i in range(4) if tid[i] == k]
        assert out.task_losses[k].item() == pytest.approx(rho[idx].mean(), rel=1e-5)
    assert torch.isfinite(out.loss)
    s.detach()


def test_an_unknown_pixel_loss_is_a_clear_error() -> None:
    for name in strategies.names():
        with pytest.raises(ValueError, match="loss must be one of"):
            strategies.build(name, num_tasks=2, loss="l3")
