"""The pure strategy formulas against hand computations written out with loops and numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aioir.strategies import functional as Fn


def _rand(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


# ---------------------------------------------------------------- grouping helpers


def test_per_task_mean_and_sum_count_by_hand() -> None:
    values = [0.5, 2.0, 1.5, 4.0, 3.0]
    tid = [3, 0, 3, 3, 0]
    means, present = Fn.per_task_mean(torch.tensor(values), torch.tensor(tid), 5)
    sums, counts = Fn.per_task_sum_count(torch.tensor(values), torch.tensor(tid), 5)
    for k in range(5):
        mine = [v for v, t in zip(values, tid) if t == k]
        assert counts[k].item() == len(mine)
        assert sums[k].item() == pytest.approx(sum(mine))
        assert means[k].item() == pytest.approx(sum(mine) / len(mine) if mine else 0.0)
        assert bool(present[k]) == bool(mine)


def test_task_id_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="task_id values"):
        Fn.per_task_mean(torch.ones(2), torch.tensor([0, 3]), 3)


# ---------------------------------------------------------------- TUR (authors' per-pixel form)


def _rho(e, loss="l1", eps=1e-3):
    if loss == "l1":
        return np.abs(e)
    if loss == "l2":
        return e**2
    return np.sqrt(e**2 + eps**2)


def _tur_by_hand(p, g, u, tid, num_tasks, log_weight, eps, loss="l1"):
    per_task = np.zeros(num_tasks)
    present = []
    for k in range(num_tasks):
        idx = [i for i in range(len(tid)) if tid[i] == k]
        if not idx:
            continue
        present.append(k)
        U = sum(u[i] for i in idx) / len(idx) + eps  # one per-pixel map for the task
        ratios = [_rho(p[i] - g[i], loss) / U for i in idx]
        per_task[k] = np.mean(np.stack(ratios)) + log_weight * math.log(np.mean(U))
    return sum(per_task[k] for k in present) / len(present), per_task


def test_tur_loss_matches_hand_computation_with_absent_and_single_sample_tasks() -> None:
    B, C, H, W, K = 6, 3, 5, 4, 4
    p, g = _rand(0, B, C, H, W), _rand(1, B, C, H, W)
    u = _rand(2, B, C, H, W) * 0.3 + 0.01
    tid = [0, 2, 0, 3, 0, 2]  # task 1 absent, task 3 a single sample
    total, per_task = Fn.tur_loss(_t(p), _t(g), _t(u), torch.tensor(tid), K, 2.0, 1e-6)
    ref_total, ref_per_task = _tur_by_hand(p, g, u, tid, K, 2.0, 1e-6)
    assert total.item() == pytest.approx(ref_total, rel=1e-10)
    np.testing.assert_allclose(per_task.numpy(), ref_per_task, rtol=1e-10)
    assert per_task[1].item() == 0.0


def test_tur_loss_other_log_weight_and_one_channel_map() -> None:
    B, C, H, W, K = 3, 3, 4, 4, 2
    p, g = _rand(3, B, C, H, W), _rand(4, B, C, H, W)
    u = _rand(5, B, 1, H, W) + 0.1
    tid = [1, 1, 0]
    total, _ = Fn.tur_loss(_t(p), _t(g), _t(u), torch.tensor(tid), K, log_weight=0.5, eps=1e-3)
    ref_total, _ = _tur_by_hand(p, g, np.broadcast_to(u, (B, C, H, W)), tid, K, 0.5, 1e-3)
    assert total.item() == pytest.approx(ref_total, rel=1e-10)


def test_tur_loss_gradients_flow_to_pred_and_uncertainty_and_match_finite_differences() -> None:
    p = _t(_rand(6, 3, 2, 3, 3)).requires_grad_()
    g = _t(_rand(7, 3, 2, 3, 3))
    u = _t(_rand(8, 3, 2, 3, 3) + 0.2).requires_grad_()
    tid = torch.tensor([0, 2, 0])
    total, _ = Fn.tur_loss(p, g, u, tid, 3)
    total.backward()
    for grad in (p.grad, u.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    # the analytic gradient agrees with central finite differences (independent of autograd)
    assert torch.autograd.gradcheck(lambda a, b: Fn.tur_loss(a, g, b, tid, 3)[0], (p, u))


# ---------------------------------------------------------------- TUR, the paper's Gaussian form


def test_tur_loss_gaussian_matches_eq5_by_hand() -> None:
    B, C, H, W, K = 5, 3, 4, 3, 3
    p, g = _rand(9, B, C, H, W), _rand(10, B, C, H, W)
    u = _rand(11, B, C, H, W) * 0.5 + 0.05
    tid = [2, 0, 2, 2, 0]  # task 1 absent
    eps = 1e-6
    ref = np.zeros(K)
    for k in range(K):
        idx = [i for i in range(B) if tid[i] == k]
        if idx:
            var = np.mean(np.stack([u[i] for i in idx])) + eps
            mse = np.mean(np.stack([(p[i] - g[i]) ** 2 for i in idx]))
            ref[k] = mse / (2 * var) + 0.5 * math.log(var)
    total, per_task = Fn.tur_loss_gaussian(_t(p), _t(g), _t(u), torch.tensor(tid), K, eps)
    np.testing.assert_allclose(per_task.numpy(), ref, rtol=1e-10)
    assert total.item() == pytest.approx((ref[0] + ref[2]) / 2, rel=1e-10)


# ---------------------------------------------------------------- UE (ungrouped ablation)


def test_ue_loss_matches_hand_computation() -> None:
    B, C, H, W = 4, 3, 3, 5
    p, g = _rand(12, B, C, H, W), _rand(13, B, C, H, W)
    u = _rand(14, B, C, H, W) * 0.2 + 0.01
    eps, lw = 1e-6, 2.0
    n = B * C * H * W
    ratio_sum, u_sum = 0.0, 0.0
    for i in range(B):
        for c in range(C):
            for y in range(H):
                for x in range(W):
                    ratio_sum += abs(p[i, c, y, x] - g[i, c, y, x]) / (u[i, c, y, x] + eps)
                    u_sum += u[i, c, y, x] + eps
    ref = ratio_sum / n + lw * math.log(u_sum / n)
    assert Fn.ue_loss(_t(p), _t(g), _t(u), lw, eps).item() == pytest.approx(ref, rel=1e-10)


# ---------------------------------------------------------------- Art weights


def _art_by_hand(L, ema, low, tau, present, eps=1e-6):
    def clip(v):
        return min(max(v, eps), 1 - eps)

    scores = {}
    for t in range(len(L)):
        if present[t]:
            s = max(L[t], 0.0) / max(ema[t], eps)
            r = math.log10(clip(low[t])) / math.log10(clip(L[t]))
            scores[t] = s * r / tau
    top = max(scores.values())
    z = sum(math.exp(v - top) for v in scores.values())
    return [math.exp(scores[t] - top) / z if t in scores else 0.0 for t in range(len(L))]


@pytest.mark.parametrize(
    "losses",
    [
        [0.05, 0.2, 0.01, 0.3],
        [1e-8, 0.1, 0.02, 0.5],  # near 0
        [1 - 1e-9, 0.1, 0.02, 0.5],  # near 1
        [1.0, 0.1, 0.3, 0.5],  # exactly 1
        [1.7, 0.1, 0.3, 2.5],  # above 1
        [0.0, 0.1, 0.3, 0.5],  # exactly 0
    ],
)
def test_art_weights_by_hand_including_edge_losses(losses: list[float]) -> None:
    ema = [0.1, 0.08, 0.03, 0.4]
    low = [0.04, 0.05, 0.009, 0.25]
    present = [True, False, True, True]
    for tau in (0.1, 3.0):
        w = Fn.art_weights(
            torch.tensor(losses, dtype=torch.float64),
            torch.tensor(ema, dtype=torch.float64),
            torch.tensor(low, dtype=torch.float64),
            tau,
            torch.tensor(present),
        )
        ref = _art_by_hand(losses, ema, low, tau, present)
        assert torch.isfinite(w).all()
        assert w[1].item() == 0.0
        assert w.sum().item() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(w.numpy(), ref, rtol=1e-9, atol=1e-300)


def test_art_weights_favour_a_task_whose_loss_approaches_one() -> None:
    # log10(L) -> 0 as L -> 1 makes the global correction explode: that task takes the weight
    w = Fn.art_weights(
        torch.tensor([1 - 1e-9, 0.1, 0.05]), torch.full((3,), 0.1), torch.full((3,), 0.05), 3.0,
        torch.tensor([True, True, True]),
    )
    assert w[0].item() == pytest.approx(1.0)


def test_art_weights_values_of_a_small_example() -> None:
    # Eq. 5, 7 (log form), 8 written out for two tasks
    L0, L1, tau = 0.1, 0.2, 3.0
    a = (L0 / 0.1) * (math.log10(0.1) / math.log10(L0)) / tau
    b = (L1 / 0.1) * (math.log10(0.1) / math.log10(L1)) / tau
    w = Fn.art_weights(torch.tensor([L0, L1]), torch.full((2,), 0.1), torch.full((2,), 0.1), tau,
                       torch.tensor([True, True]))
    assert w[0].item() == pytest.approx(math.exp(a) / (math.exp(a) + math.exp(b)), rel=1e-6)


def test_art_weights_have_no_gradient_and_no_present_task_gives_zeros() -> None:
    L = torch.tensor([0.1, 0.2], requires_grad=True)
    state = torch.full((2,), 0.1)
    w = Fn.art_weights(L, state, state, 3.0, torch.tensor([True, True]))
    assert not w.requires_grad
    none = Fn.art_weights(L, state, state, 3.0, torch.zeros(2, dtype=torch.bool))
    assert none.tolist() == [0.0, 0.0]


def test_normalise_present() -> None:
    w = Fn.normalise_present(torch.tensor([2.0, 7.0, 6.0]), torch.tensor([True, False, True]))
    assert w.tolist() == pytest.approx([0.25, 0.0, 0.75])


# ---------------------------------------------------------------- the pixel loss and its option


@pytest.mark.parametrize("loss", ["l1", "l2", "charbonnier"])
def test_pixel_error_and_per_sample_loss_by_hand(loss: str) -> None:
    p, g = _rand(1, 3, 2, 4, 5), _rand(2, 3, 2, 4, 5)
    e = Fn.pixel_error(_t(p), _t(g), loss)
    np.testing.assert_allclose(e.numpy(), _rho(p - g, loss), rtol=1e-12)
    per = Fn.per_sample_loss(_t(p), _t(g), loss)
    np.testing.assert_allclose(per.numpy(), [_rho(p[i] - g[i], loss).mean() for i in range(3)],
                               rtol=1e-12)


def test_charbonnier_eps_and_bad_options() -> None:
    e = Fn.pixel_error(torch.tensor([0.0, 0.3]), torch.zeros(2), "charbonnier", eps=0.1)
    np.testing.assert_allclose(e.numpy(), [0.1, math.sqrt(0.09 + 0.01)], rtol=1e-6)
    with pytest.raises(ValueError, match="loss must be one of"):
        Fn.pixel_error(torch.zeros(1), torch.zeros(1), "huber")
    with pytest.raises(ValueError, match="charbonnier_eps"):
        Fn.pixel_error(torch.zeros(1), torch.zeros(1), "charbonnier", eps=0.0)


@pytest.mark.parametrize("loss", ["l2", "charbonnier"])
def test_tur_and_ue_generalise_to_rho_over_u(loss: str) -> None:
    p, g, u = _rand(3, 4, 3, 5, 4), _rand(4, 4, 3, 5, 4), _rand(5, 4, 3, 5, 4) + 0.2
    tid = [0, 2, 0, 1]
    total, _ = Fn.tur_loss(_t(p), _t(g), _t(u), torch.tensor(tid), 3, 2.0, 1e-6, loss=loss)
    ref, _ = _tur_by_hand(p, g, u, tid, 3, 2.0, 1e-6, loss)
    assert total.item() == pytest.approx(ref, rel=1e-9)
    ue = Fn.ue_loss(_t(p), _t(g), _t(u), 2.0, 1e-6, loss=loss)
    U = u + 1e-6
    assert ue.item() == pytest.approx(np.mean(_rho(p - g, loss) / U) + 2 * math.log(U.mean()),
                                      rel=1e-9)


def test_tur_gaussian_with_an_l1_pixel_loss_by_hand() -> None:
    p, g, u = _rand(6, 3, 3, 2, 2), _rand(7, 3, 3, 2, 2), _rand(8, 3, 3, 2, 2) + 0.1
    tid = [1, 1, 0]
    total, _per = Fn.tur_loss_gaussian(_t(p), _t(g), _t(u), torch.tensor(tid), 2, 1e-6, "l1")
    terms = []
    for k in (0, 1):
        idx = [i for i in range(3) if tid[i] == k]
        var = np.mean([u[i] for i in idx]) + 1e-6
        m = np.mean([np.abs(p[i] - g[i]) for i in idx])
        terms.append(m / (2 * var) + 0.5 * math.log(var))
    assert total.item() == pytest.approx(np.mean(terms), rel=1e-9)


# ---------------------------------------------------------------- TUR/UE across ranks


def _fake_rank_reduce(other: torch.Tensor):
    return lambda t: t + other


@pytest.mark.parametrize("form", ["tur", "gaussian", "ue"])
def test_distributed_shares_average_to_the_single_process_loss(form: str) -> None:
    """Two "ranks" holding halves of a batch: with the other half's sums supplied by the
    reduction, the mean of the two ranks' losses is the loss of the whole batch."""
    p, g, u = _rand(9, 6, 3, 4, 4), _rand(10, 6, 3, 4, 4), _rand(11, 6, 3, 4, 4) + 0.1
    tid = torch.tensor([0, 2, 2, 1, 0, 2])
    P, G, U = _t(p), _t(g), _t(u)

    def call(sl, reduce=None, world=1):
        if form == "tur":
            return Fn.tur_loss(P[sl], G[sl], U[sl], tid[sl], 3, reduce=reduce, world_size=world)[0]
        if form == "gaussian":
            return Fn.tur_loss_gaussian(P[sl], G[sl], U[sl], tid[sl], 3, reduce=reduce,
                                        world_size=world)[0]
        return Fn.ue_loss(P[sl], G[sl], U[sl], reduce=reduce, world_size=world)

    whole = call(slice(None)).item()
    halves = [slice(0, 3), slice(3, 6)]
    captured = []

    def capture(t):  # what each half contributes to the all-reduce
        captured.append(t.detach().clone())
        return t

    for sl in halves:
        call(sl, reduce=capture, world=2)
    shares = [call(sl, reduce=_fake_rank_reduce(captured[1 - i]), world=2).item()
              for i, sl in enumerate(halves)]
    assert np.mean(shares) == pytest.approx(whole, rel=1e-10)
