"""Art: EMA/minimum updates, weights and resume, against a numpy re-implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aioir import strategies


def _weights_by_hand(L, ema, low, tau, present, eps=1e-6, lcr=True, gcw="log"):
    clip = lambda v: min(max(v, eps), 1 - eps)

    def s(t):  # Eq. 5 (ema = smoothed loss) or Eq. 4 (ema = previous loss); 1 when off
        return L[t] / max(ema[t], eps) if lcr else 1.0

    def r(t):  # Eq. 7, log-transformed / raw / off
        if gcw == "log":
            return math.log10(clip(low[t])) / math.log10(clip(L[t]))
        return L[t] / max(low[t], eps) if gcw == "raw" else 1.0

    score = {t: s(t) * r(t) / tau for t in range(len(L)) if present[t]}
    z = sum(math.exp(v) for v in score.values())
    return np.array([math.exp(score[t]) / z if t in score else 0.0 for t in range(len(L))])


def _batches(seed: int, steps: int, K: int = 3):
    rng = np.random.default_rng(seed)
    out = []
    for step in range(steps):
        tid = rng.integers(0, K, size=4)
        if step == 1:
            tid[:] = [0, 0, 2, 2]  # task 1 absent at least once
        pred = rng.random((4, 3, 4, 4)) * 0.3
        gt = rng.random((4, 3, 4, 4)) * 0.3
        out.append((pred, gt, tid))
    return out


def test_ema_min_and_weights_over_several_steps_by_hand() -> None:
    K, a, tau = 3, 0.2, 3.0
    s = strategies.build("art", num_tasks=K, tau=tau, ema_weight=a, init=0.1)
    ema, low = np.full(K, 0.1), np.full(K, 0.1)
    for pred, gt, tid in _batches(0, 5, K):
        # per-task L1 means by explicit loops
        L, present = np.zeros(K), np.zeros(K, bool)
        for k in range(K):
            idx = [i for i in range(len(tid)) if tid[i] == k]
            if idx:
                present[k] = True
                L[k] = np.mean([np.abs(pred[i] - gt[i]).mean() for i in idx])
        w_ref = _weights_by_hand(L, ema, low, tau, present)
        out = s(torch.tensor(pred, dtype=torch.float32), torch.tensor(gt, dtype=torch.float32),
                torch.tensor(tid))
        np.testing.assert_allclose(out.task_losses.numpy(), L, rtol=1e-5)
        np.testing.assert_allclose(out.weights.numpy(), w_ref, rtol=1e-4, atol=1e-7)
        assert out.present.numpy().tolist() == present.tolist()
        assert out.loss.item() == pytest.approx(float((w_ref * L).sum()), rel=1e-4)
        s.after_step(out)
        for k in range(K):
            if present[k]:
                ema[k] = a * L[k] + (1 - a) * ema[k]
                low[k] = min(low[k], L[k])
        np.testing.assert_allclose(s.ema.numpy(), ema, rtol=1e-5)
        np.testing.assert_allclose(s.min.numpy(), low, rtol=1e-5)


def test_loss_gradient_is_weighted_sum_of_task_gradients() -> None:
    s = strategies.build("art", num_tasks=2)
    pred = torch.zeros(2, 1, 1, 2, requires_grad=True)
    gt = torch.tensor([[[[0.1, 0.3]]], [[[0.4, 0.2]]]])
    out = s(pred, gt, torch.tensor([0, 1]))
    out.loss.backward()
    w = out.weights
    # d/dpred of w_k * mean|pred - gt| over the task's 2 values = -w_k / 2 (pred < gt)
    expected = torch.tensor([[[[-w[0] / 2, -w[0] / 2]]], [[[-w[1] / 2, -w[1] / 2]]]])
    torch.testing.assert_close(pred.grad, expected)


def test_state_dict_round_trip_continues_identically() -> None:
    data = _batches(1, 6)
    conv = lambda b: (torch.tensor(b[0], dtype=torch.float32),
                      torch.tensor(b[1], dtype=torch.float32), torch.tensor(b[2]))
    a = strategies.build("art", num_tasks=3, ema_weight=0.3)
    for b in data[:3]:
        a.after_step(a(*conv(b)))
    state = a.state_dict()
    assert set(state) == {"ema", "min", "clamped"}
    b_ = strategies.build("art", num_tasks=3, ema_weight=0.3)
    b_.load_state_dict(state)
    for b in data[3:]:
        oa, ob = a(*conv(b)), b_(*conv(b))
        assert torch.equal(oa.weights, ob.weights) and torch.equal(oa.loss, ob.loss)
        a.after_step(oa)
        b_.after_step(ob)
    assert torch.equal(a.ema, b_.ema) and torch.equal(a.min, b_.min)


def test_weights_use_all_reduced_statistics() -> None:
    # simulate a second rank holding task 1 (absent locally): its per-task L1 sums and counts
    other_pred, other_gt = np.zeros((2, 3, 2, 2)), np.full((2, 3, 2, 2), 0.3)
    other_tid = [1, 0]
    other = np.zeros((2, 3))
    for i, k in enumerate(other_tid):
        other[0, k] += np.abs(other_pred[i] - other_gt[i]).mean()
        other[1, k] += 1
    s = strategies.build("art", num_tasks=3)
    s.all_reduce_sum = lambda t: t + torch.tensor(other, dtype=t.dtype)
    s.world_size = 2
    pred, gt = torch.zeros(2, 3, 2, 2), torch.tensor([0.1, 0.2]).view(2, 1, 1, 1).expand(2, 3, 2, 2)
    out = s(pred, gt, torch.tensor([0, 2]))
    # global: task 0 = (0.1 + 0.3) / 2, task 1 = 0.3, task 2 = 0.2
    L = np.array([0.2, 0.3, 0.2])
    np.testing.assert_allclose(out.task_losses.numpy(), L, rtol=1e-6)
    assert out.present.tolist() == [True, True, True]
    w_ref = _weights_by_hand(L, [0.1] * 3, [0.1] * 3, 3.0, [True] * 3)
    np.testing.assert_allclose(out.weights.numpy(), w_ref, rtol=1e-5)
    # this rank's loss: its task sums over the GLOBAL counts (task 0: 2 samples, task 2: 1), times
    # the world size; DDP averages gradients, so the mean of the ranks' losses is sum_t w_t L_t
    local = 2 * (w_ref[0] * 0.1 / 2 + w_ref[2] * 0.2 / 1)
    assert out.loss.item() == pytest.approx(local, rel=1e-5)
    other_rank = 2 * (w_ref[0] * 0.3 / 2 + w_ref[1] * 0.3 / 1)
    assert (local + other_rank) / 2 == pytest.approx(float((w_ref * L).sum()), rel=1e-9)


def test_invalid_options_are_errors() -> None:
    with pytest.raises(ValueError):
        strategies.build("art", num_tasks=2, tau=0.0)
    with pytest.raises(ValueError):
        strategies.build("art", num_tasks=2, ema_weight=1.5)


@pytest.mark.parametrize("lcr,gcw", [("raw", "none"), ("smoothed", "none"), ("none", "raw"),
                                     ("none", "log"), ("smoothed", "log"), ("raw", "raw")])
def test_ablation_switches_follow_their_formulas(lcr: str, gcw: str) -> None:
    """Art Table 1: raw / smoothed LCR, raw / log GCW, each alone and combined.

    Raw LCR (Eq. 4) divides by the previous step's loss of the task, tracked here by hand
    independently of the EMA; smoothed LCR (Eq. 5) by the EMA with weight a."""
    K, a, tau = 3, 0.2, 2.0
    s = strategies.build("art", num_tasks=K, tau=tau, ema_weight=a, init=0.1, lcr=lcr, gcw=gcw)
    ema, prev, low = np.full(K, 0.1), np.full(K, 0.1), np.full(K, 0.1)
    for pred, gt, tid in _batches(3, 5, K):
        L, present = np.zeros(K), np.zeros(K, bool)
        for k in range(K):
            idx = [i for i in range(len(tid)) if tid[i] == k]
            if idx:
                present[k] = True
                L[k] = np.mean([np.abs(pred[i] - gt[i]).mean() for i in idx])
        ref = ema if lcr == "smoothed" else prev
        w_ref = _weights_by_hand(L, ref, low, tau, present, lcr=lcr != "none", gcw=gcw)
        out = s(torch.tensor(pred, dtype=torch.float32), torch.tensor(gt, dtype=torch.float32),
                torch.tensor(tid))
        np.testing.assert_allclose(out.weights.numpy(), w_ref, rtol=1e-4, atol=1e-7)
        s.after_step(out)
        for k in range(K):
            if present[k]:
                ema[k] = a * L[k] + (1 - a) * ema[k]
                prev[k] = L[k]
                low[k] = min(low[k], L[k])


def test_raw_gcw_alone_is_the_plain_ratio_to_the_minimum() -> None:
    s = strategies.build("art", num_tasks=2, tau=1.0, lcr="none", gcw="raw", init=0.1)
    pred = torch.zeros(2, 1, 1, 1)
    out = s(pred, torch.tensor([0.2, 0.05]).view(2, 1, 1, 1), torch.tensor([0, 1]))
    # r = (0.2 / 0.1, 0.05 / 0.1); softmax of (2.0, 0.5)
    e = np.exp([2.0, 0.5])
    np.testing.assert_allclose(out.weights.numpy(), e / e.sum(), rtol=1e-6)


def test_a_loss_reaching_one_warns_once_names_the_task_and_is_counted(caplog) -> None:
    s = strategies.build("art", num_tasks=3)
    s.task_names = ["noise", "dark", "jpeg"]
    gt = torch.tensor([0.5, 1.0, 0.2]).view(3, 1, 1, 1)  # dark: |0 - 1| = 1
    with caplog.at_level("WARNING", logger="aioir"):
        for _ in range(2):
            out = s(torch.zeros(3, 1, 1, 1), gt, torch.tensor([0, 1, 2]))
            assert out.weights[1].item() > 0.99  # the clamp hands it all the weight
            s.after_step(out)
    warnings = [r for r in caplog.records if "reached 1" in r.getMessage()]
    assert len(warnings) == 1 and "'dark'" in warnings[0].getMessage()
    assert s.clamped.tolist() == [0.0, 2.0, 0.0]
    out = s(torch.zeros(3, 1, 1, 1), gt, torch.tensor([0, 1, 2]))
    assert out.extras["clamped"].tolist() == [0.0, 3.0, 0.0]  # logged: this step included


def test_old_checkpoints_without_the_clamp_counter_still_load() -> None:
    s = strategies.build("art", num_tasks=2)
    s.load_state_dict({"ema": torch.full((2,), 0.2), "min": torch.full((2,), 0.05)})
    assert s.clamped.tolist() == [0.0, 0.0] and s.ema.tolist() == pytest.approx([0.2, 0.2])


def test_pixel_loss_option_changes_the_task_losses() -> None:
    pred, gt = torch.zeros(2, 1, 1, 2), torch.tensor([0.1, 0.3, 0.2, 0.2]).view(2, 1, 1, 2)
    for loss, ref in (("l1", [0.2, 0.2]), ("l2", [0.05, 0.04])):
        out = strategies.build("art", num_tasks=2, loss=loss)(pred, gt, torch.tensor([0, 1]))
        np.testing.assert_allclose(out.task_losses.numpy(), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="lcr"):
        strategies.build("art", num_tasks=2, lcr="fast")
    with pytest.raises(ValueError, match="gcw"):
        strategies.build("art", num_tasks=2, gcw="sqrt")
