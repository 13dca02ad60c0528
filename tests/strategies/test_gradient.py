"""Gradient strategies through the engine's backward contract, on a 1x1-conv "network".

The per-task gradients are computed here explicitly (one autograd call per task's mean loss on
its own samples); the ``.grad`` the strategy writes must equal the method's combination of them
(the coefficient functions are checked against direct vector computations in test_gram.py), plus
the auxiliary term's gradient as is; recon weight, loss scaling and accumulation must behave as
the engine needs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aioir import strategies
from aioir.strategies.base import BackwardContext
from aioir.strategies.gram import (
    cagrad_coefficients,
    imtl_g_coefficients,
    nash_coefficients,
    pcgrad_coefficients,
)
from aioir.strategies.pcgrad import step_generator

K = 3


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Conv2d(3, 3, 1)


def _data(seed: int = 1, tid=(0, 2, 2, 0, 1, 2)):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(len(tid), 3, 4, 5, generator=g)
    gt = torch.rand(len(tid), 3, 4, 5, generator=g)
    return x, gt, torch.tensor(tid)


def _task_grads(net, x, gt, tid) -> tuple[list[int], np.ndarray]:
    """Explicit per-task gradients of each task's mean L1 over its samples."""
    tasks, rows = [], []
    for k in range(K):
        idx = (tid == k).nonzero().flatten()
        if len(idx) == 0:
            continue
        net.zero_grad()
        loss = (net(x[idx]) - gt[idx]).abs().mean()
        grads = torch.autograd.grad(loss, list(net.parameters()))
        tasks.append(k)
        rows.append(torch.cat([g.reshape(-1) for g in grads]).double().numpy())
    return tasks, np.stack(rows)


def _run(s, net, batches, recon_weight=1.0, scale=1.0, extra_fn=None):
    params = [p for p in list(net.parameters()) + list(s.parameters()) if p.requires_grad]
    outs = []
    for x, gt, tid in batches:
        pred = net(x)
        out = s(pred, gt, tid)
        extra = extra_fn(pred) if extra_fn is not None else None
        total = recon_weight * out.loss + (extra if extra is not None else 0.0)
        ctx = BackwardContext(total, extra, recon_weight, lambda t: t * scale, len(batches),
                              params)
        s.backward(out, ctx)
        outs.append(out)
    s.finish_backward(params, True)
    return outs, torch.cat([p.grad.reshape(-1) for p in net.parameters()]).double().numpy()


def _reference(name: str, s, g: np.ndarray) -> np.ndarray:
    gram = torch.tensor(g @ g.T, dtype=torch.float64)
    n = len(g)
    if name == "pcgrad":
        gen = step_generator(s.seed, int(s.step))
        orders = [torch.randperm(n, generator=gen).tolist() for _ in range(n)]
        c = pcgrad_coefficients(gram, orders).numpy() / n
    elif name == "cagrad":
        c = cagrad_coefficients(gram, 0.4).numpy()
    elif name == "imtl":
        c = imtl_g_coefficients(gram).numpy()
    else:
        c = nash_coefficients(gram).numpy()
    return c @ g


@pytest.mark.parametrize("name,options", [("pcgrad", {}), ("cagrad", {}), ("imtl", {"mode": "g"}),
                                          ("nashmtl", {"max_norm": 0.0})])
def test_written_gradient_is_the_method_on_explicit_task_gradients(name, options) -> None:
    net = _net()
    s = strategies.build(name, num_tasks=K, **options)
    x, gt, tid = _data()
    _tasks, g = _task_grads(net, x, gt, tid)
    ref = _reference(name, s, g)
    net.zero_grad(set_to_none=True)
    outs, grad = _run(s, net, [(x, gt, tid)])
    np.testing.assert_allclose(grad, ref, rtol=1e-5, atol=1e-7)
    assert outs[0].weights.sum().item() == pytest.approx(1.0, rel=1e-6)


def test_task_absent_from_the_batch_is_left_out() -> None:
    net = _net()
    s = strategies.build("imtl", num_tasks=K, mode="g")
    x, gt, tid = _data(tid=(0, 2, 2, 0))
    tasks, g = _task_grads(net, x, gt, tid)
    assert tasks == [0, 2]
    net.zero_grad(set_to_none=True)
    outs, grad = _run(s, net, [(x, gt, tid)])
    np.testing.assert_allclose(grad, _reference("imtl", s, g), rtol=1e-5, atol=1e-7)
    assert outs[0].weights[1].item() == 0.0


def test_aux_loss_recon_weight_and_loss_scale() -> None:
    """d scales with the recon weight (PCGrad is homogeneous) and with the loss scale; the
    auxiliary term's gradient is added once, scaled by the loss scale only."""
    x, gt, tid = _data()
    aux = lambda pred: 0.3 * pred.square().mean()
    net = _net()
    _tasks, g = _task_grads(net, x, gt, tid)
    net.zero_grad(set_to_none=True)
    aux_grad = torch.autograd.grad(aux(net(x)), list(net.parameters()))
    aux_grad = torch.cat([a.reshape(-1) for a in aux_grad]).double().numpy()
    s = strategies.build("pcgrad", num_tasks=K)
    ref = _reference("pcgrad", s, g)
    net.zero_grad(set_to_none=True)
    _, grad = _run(s, net, [(x, gt, tid)], recon_weight=0.5, scale=1024.0, extra_fn=aux)
    np.testing.assert_allclose(grad / 1024.0, 0.5 * ref + aux_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["pcgrad", "nashmtl", "cagrad"])
def test_accumulated_micro_batches_combine_the_step_gradients(name: str) -> None:
    """Two micro-batches give the per-task gradients of the whole step, then one combination:
    the same .grad as the full batch at once."""
    x, gt, tid = _data(tid=(0, 2, 1, 0, 1, 2, 2, 0))
    net = _net()
    s1 = strategies.build(name, num_tasks=K)
    _, full = _run(s1, net, [(x, gt, tid)])
    net.zero_grad(set_to_none=True)
    s2 = strategies.build(name, num_tasks=K)
    _, acc = _run(s2, net, [(x[:4], gt[:4], tid[:4]), (x[4:], gt[4:], tid[4:])])
    np.testing.assert_allclose(acc, full, rtol=1e-5, atol=1e-8)


def test_skipped_step_writes_nothing_and_clears() -> None:
    net = _net()
    s = strategies.build("pcgrad", num_tasks=K)
    x, gt, tid = _data()
    params = list(net.parameters())
    out = s(net(x), gt, tid)
    s.backward(out, BackwardContext(out.loss, None, 1.0, lambda t: t, 1, params))
    s.finish_backward(params, False)
    assert all(p.grad is None for p in params)
    assert s._grads is None  # the next step starts from an empty buffer


def test_nashmtl_clips_the_update_norm() -> None:
    net = _net()
    x, gt, tid = _data()
    s = strategies.build("nashmtl", num_tasks=K, max_norm=0.01)
    _, grad = _run(s, net, [(x, gt, tid)], scale=8.0)  # the clip is in unscaled units
    assert np.linalg.norm(grad / 8.0) == pytest.approx(0.01, rel=1e-3)


def test_imtl_hybrid_scales_and_their_gradient() -> None:
    """Hybrid: IMTL-G on the gradients of e^s L_k; s gets (e^s L_k - 1) / n_present."""
    net = _net()
    s = strategies.build("imtl", num_tasks=K)
    with torch.no_grad():
        s.log_scale.copy_(torch.tensor([0.2, -0.1, 0.3]))
    x, gt, tid = _data()
    _tasks, g = _task_grads(net, x, gt, tid)
    scales = np.exp([0.2, -0.1, 0.3])
    gs = g * scales[:, None]
    c = imtl_g_coefficients(torch.tensor(gs @ gs.T, dtype=torch.float64)).numpy()
    net.zero_grad(set_to_none=True)
    outs, grad = _run(s, net, [(x, gt, tid)])
    np.testing.assert_allclose(grad, c @ gs, rtol=1e-5, atol=1e-7)
    L = outs[0].task_losses.double().numpy()
    np.testing.assert_allclose(s.log_scale.grad.numpy(), (scales * L - 1) / 3, rtol=1e-5)
    w = c * scales  # IMTL-G's closed form may give a task a negative coefficient, as here
    np.testing.assert_allclose(outs[0].weights.numpy(), w / w.sum(), rtol=1e-4)


def test_imtl_l_is_a_plain_scaled_loss() -> None:
    s = strategies.build("imtl", num_tasks=2, mode="l")
    assert not s.reduces_gradients
    with torch.no_grad():
        s.log_scale.copy_(torch.tensor([0.5, -0.5]))
    pred = torch.zeros(2, 1, 1, 1)
    out = s(pred, torch.tensor([0.2, 0.4]).view(2, 1, 1, 1), torch.tensor([0, 1]))
    ref = ((np.exp(0.5) * 0.2 - 0.5) + (np.exp(-0.5) * 0.4 + 0.5)) / 2
    assert out.loss.item() == pytest.approx(ref, rel=1e-6)


def test_gradnorm_weight_gradient_and_renormalisation_by_hand() -> None:
    net = _net()
    s = strategies.build("gradnorm", num_tasks=K, alpha=1.5)
    s.attach(net)
    x, gt, tid = _data()
    _tasks, g = _task_grads(net, x, gt, tid)
    norms = np.linalg.norm(g, axis=1)
    net.zero_grad(set_to_none=True)
    outs, grad = _run(s, net, [(x, gt, tid)])
    # first step: L(0) = L(t), so r = 1 and the target is the mean of G = w |g| (w = 1)
    G = norms
    expected = np.sign(G - G.mean()) * norms
    np.testing.assert_allclose(s.weight.grad.numpy(), expected, rtol=1e-5)
    # the network's gradient: sum_k w_k L_k / sum w = the mean of the task gradients (w = 1)
    np.testing.assert_allclose(grad, g.mean(0), rtol=1e-5, atol=1e-8)
    # a later step with other weights and losses: r_k = (L_k / L_k(0)) / mean(...)
    L0 = outs[0].task_losses.double().numpy()
    with torch.no_grad():
        s.weight.copy_(torch.tensor([0.5, 1.0, 1.5]))
    x2, gt2, tid2 = _data(seed=5)
    _tasks, g2 = _task_grads(net, x2, gt2, tid2)
    net.zero_grad(set_to_none=True)
    s.weight.grad = None
    outs2, grad2 = _run(s, net, [(x2, gt2, tid2)])
    L = outs2[0].task_losses.double().numpy()
    n2 = np.linalg.norm(g2, axis=1)
    w = np.array([0.5, 1.0, 1.5])
    Gw = w * n2
    ratio = L / L0
    target = Gw.mean() * (ratio / ratio.mean()) ** 1.5
    np.testing.assert_allclose(s.weight.grad.numpy(), np.sign(Gw - target) * n2, rtol=1e-5)
    np.testing.assert_allclose(grad2, (w / w.sum()) @ g2, rtol=1e-5, atol=1e-8)
    with torch.no_grad():
        s.weight.copy_(torch.tensor([0.5, -0.2, 2.0]))
    s.after_step(outs2[0])
    ref = np.array([0.5, 1e-6, 2.0])
    np.testing.assert_allclose(s.weight.detach().numpy(), ref * 3 / ref.sum(), rtol=1e-6)


def test_gradnorm_on_one_layer_takes_task_gradients_there_only() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.Conv2d(4, 3, 1))
    s = strategies.build("gradnorm", num_tasks=K, layer="1")
    s.attach(net)
    params = list(net.parameters()) + [s.weight]
    assert s.gradient_params(params) == list(net[1].parameters())
    with pytest.raises(AttributeError):
        strategies.build("gradnorm", num_tasks=K, layer="nope").attach(net)
