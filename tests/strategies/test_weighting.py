"""Loss-weighting strategies (uw, dwa, rlw, famo) against their equations, computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aioir import strategies


def _losses_batch(values, tid):
    """pred = 0, gt = constant per sample: each sample's L1 is its value."""
    gt = torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 3, 2, 2)
    return torch.zeros_like(gt), gt.contiguous(), torch.tensor(tid)


# ---------------------------------------------------------------------------------------- uw
def test_uw_loss_and_log_variance_gradient() -> None:
    s = strategies.build("uw", num_tasks=3)
    with torch.no_grad():
        s.log_var.copy_(torch.tensor([0.5, 2.0, -0.3]))
    pred, gt, tid = _losses_batch([0.2, 0.4, 0.1], [0, 2, 2])  # task 1 absent
    out = s(pred, gt, tid)
    L0, L2 = 0.2, 0.25
    ref = (0.5 * math.exp(-0.5) * L0 + 0.25 + 0.5 * math.exp(0.3) * L2 - 0.15) / 2  # Kendall Eq. 7
    assert out.loss.item() == pytest.approx(ref, rel=1e-6)
    out.loss.backward()
    grad = s.log_var.grad.numpy()
    np.testing.assert_allclose(
        grad, [(-0.5 * math.exp(-0.5) * L0 + 0.5) / 2, 0.0, (-0.5 * math.exp(0.3) * L2 + 0.5) / 2],
        rtol=1e-5,
    )
    w = np.array([math.exp(-0.5), 0.0, math.exp(0.3)])
    np.testing.assert_allclose(out.weights.numpy(), w / w.sum(), rtol=1e-6)


def test_uw_minimum_is_at_sigma_squared_equal_to_the_loss() -> None:
    """d/ds (1/2 e^-s L + 1/2 s) = 0 at s = log L: a few hundred Adam steps reach it."""
    s = strategies.build("uw", num_tasks=1)
    opt = torch.optim.Adam(s.parameters(), lr=0.05)
    pred, gt, tid = _losses_batch([0.3], [0])
    for _ in range(600):
        opt.zero_grad()
        s(pred, gt, tid).loss.backward()
        opt.step()
    assert s.log_var.item() == pytest.approx(math.log(0.3), abs=1e-2)


# ---------------------------------------------------------------------------------------- dwa
def test_dwa_weights_follow_eq7_over_windows_by_hand() -> None:
    K, T, W = 3, 2.0, 2
    s = strategies.build("dwa", num_tasks=K, temperature=T, window=W)
    rng = np.random.default_rng(0)
    history: list[tuple[np.ndarray, np.ndarray]] = []
    for step in range(9):
        tid = [0, 1, 2, 0] if step != 4 else [0, 2, 2, 0]  # task 1 absent once
        values = rng.uniform(0.05, 0.5, size=4)
        pred, gt, t = _losses_batch(values, tid)
        L, present = np.zeros(K), np.zeros(K, bool)
        for k in range(K):
            idx = [i for i in range(4) if tid[i] == k]
            if idx:
                present[k] = True
                L[k] = values[idx].mean()
        if len(history) >= 2 * W:
            old, new = history[-2 * W : -W], history[-W:]
            w = np.ones(K)
            for k in range(K):
                o = [h[0][k] for h in old if h[1][k]]
                n = [h[0][k] for h in new if h[1][k]]
                if o and n:
                    w[k] = np.mean(n) / np.mean(o)
        else:
            w = np.ones(K)
        e = np.where(present, np.exp(w / T), 0.0)
        ref = e / e.sum()  # lambda_k / K_present
        out = s(pred, gt, t)
        np.testing.assert_allclose(out.weights.numpy(), ref, rtol=1e-5, err_msg=f"step {step}")
        assert out.loss.item() == pytest.approx(float((ref * L).sum()), rel=1e-5)
        s.after_step(out)
        history.append((L, present))


# ---------------------------------------------------------------------------------------- rlw
def test_rlw_is_a_softmax_of_a_normal_draw_over_present_tasks() -> None:
    s = strategies.build("rlw", num_tasks=3, seed=4)
    pred, gt, tid = _losses_batch([0.2, 0.4, 0.1], [0, 2, 2])
    draws = []
    for _ in range(3):
        z = s.draw().numpy()
        draws.append(z)
        out = s(pred, gt, tid)
        e = np.array([math.exp(z[0]), 0.0, math.exp(z[2])])
        np.testing.assert_allclose(out.weights.numpy(), e / e.sum(), rtol=1e-6)
        assert out.loss.item() == pytest.approx(float((e / e.sum()) @ [0.2, 0, 0.25]), rel=1e-6)
        again = s(pred, gt, tid)  # a second micro-batch of the same step: the same draw
        assert torch.equal(out.weights, again.weights)
        s.after_step(out)
    assert not np.allclose(draws[0], draws[1])  # a new draw every optimizer step
    assert int(s.step) == 3
    zs = np.concatenate([strategies.build("rlw", num_tasks=3, seed=i).draw().numpy()
                         for i in range(200)])
    assert abs(zs.mean()) < 0.1 and abs(zs.std() - 1) < 0.1  # standard normal


# ---------------------------------------------------------------------------------------- famo
def test_famo_coefficients_and_logit_update_match_the_official_algorithm() -> None:
    """Weights: the gradient of sum z log L / c; update: torch's Adam on the logits with the
    autograd vector-Jacobian product of the softmax (the official ``update``), here with the
    next step's losses as post-update losses (update="next")."""
    K, lr, gamma = 3, 0.025, 0.01
    s = strategies.build("famo", num_tasks=K, update="next", w_lr=lr, gamma=gamma)
    xi = torch.zeros(K, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([xi], lr=lr, weight_decay=gamma)
    prev = None
    rng = np.random.default_rng(1)
    for _ in range(6):
        values = rng.uniform(0.05, 0.5, size=3)
        pred, gt, tid = _losses_batch(values, [0, 1, 2])
        L = torch.tensor(values, dtype=torch.float64)
        # official get_weighted_loss: D = L + 1e-8, c = sum(z / D).detach(),
        # loss = sum(log D * z / c)
        Lg = L.clone().requires_grad_(True)
        z = torch.softmax(xi.detach(), 0)
        D = Lg + 1e-8
        (torch.log(D) * z / (z / D).sum().detach()).sum().backward()
        out = s(pred, gt, tid)
        np.testing.assert_allclose(out.weights.numpy(), Lg.grad.numpy(), rtol=1e-5)
        s.after_step(out)
        if prev is not None:  # official update(curr_loss) with the previous step's loss
            delta = torch.log(prev + 1e-8) - torch.log(L + 1e-8)
            d = torch.autograd.grad(torch.softmax(xi, 0), xi, grad_outputs=delta)[0]
            opt.zero_grad()
            xi.grad = d
            opt.step()
        prev = L
        # the strategy's losses are float32 sums, the reference float64 values
        np.testing.assert_allclose(s.logits.numpy(), xi.detach().numpy(), rtol=1e-5, atol=1e-8)
    assert not torch.allclose(xi.detach(), torch.zeros(K, dtype=torch.float64))


def test_famo_same_batch_update_uses_a_forward_after_the_step() -> None:
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 3, 1)
    s = strategies.build("famo", num_tasks=2, w_lr=0.1, gamma=0.0)
    s.attach(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    x, gt = torch.rand(4, 3, 4, 4), torch.rand(4, 3, 4, 4)
    tid = torch.tensor([0, 1, 1, 0])

    def task_losses() -> np.ndarray:
        with torch.no_grad():
            e = (net(x) - gt).abs().flatten(1).mean(1).double().numpy()
        return np.array([e[[0, 3]].mean(), e[[1, 2]].mean()])

    before = task_losses()
    out = s(net(x), gt, tid)
    out.loss.backward()
    opt.step()
    after = task_losses()
    s.after_step(out)
    # first Adam step: m_hat / sqrt(v_hat) = sign(g); g = z (delta - z . delta), z = (1/2, 1/2)
    delta = np.log(before + 1e-8) - np.log(after + 1e-8)
    g = 0.5 * (delta - 0.5 * delta.sum())
    np.testing.assert_allclose(s.logits.numpy(), -0.1 * np.sign(g), rtol=1e-6)
    s.detach()


def test_famo_falls_back_to_the_next_step_without_a_captured_input(caplog) -> None:
    s = strategies.build("famo", num_tasks=2)  # update="same" but never attached
    pred, gt, tid = _losses_batch([0.2, 0.4], [0, 1])
    with caplog.at_level("WARNING", logger="aioir"):
        for values in ([0.2, 0.4], [0.1, 0.4]):
            pred, gt, tid = _losses_batch(values, [0, 1])
            s.after_step(s(pred, gt, tid))
    assert any("next step" in r.getMessage() for r in caplog.records)
    # task 0 improved, task 1 did not: the logit step moves weight towards task 1
    assert s.logits[0] < s.logits[1]
