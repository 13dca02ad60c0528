"""L_reg and L_orthog: formulas by hand, per-sample gradients (torch.func vs an explicit loop),
the second-order gradient of L_orthog against finite differences."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from aioir.models.diffusion.regularizers import (
    accumulate_importance,
    importance_penalty,
    orthogonality_loss,
    per_sample_grads,
    stochastic_round,
)


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / (
        math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def orthog_by_hand(gen, rec, form):
    """Eq. 17-20 written out pair by pair (self-pairs excluded)."""
    cross = [cos(g, r) for g in gen for r in rec]
    within = [cos(a, b) for group in (gen, rec) for a, b in itertools.permutations(group, 2)]
    mean = lambda v, empty: sum(v) / len(v) if v else empty
    if form == "opl":
        s, d = mean(within, 1.0), mean(cross, 0.0)
    else:
        s, d = mean(cross, 1.0), mean(within, 0.0)
    return (1 - s) + abs(d)


@pytest.mark.parametrize("form", ["opl", "literal"])
def test_orthogonality_loss_matches_pairwise_formula(form):
    g = torch.Generator().manual_seed(0)
    gen = torch.randn(2, 5, generator=g, dtype=torch.float64)
    rec = torch.randn(3, 5, generator=g, dtype=torch.float64)
    expected = orthog_by_hand(gen.tolist(), rec.tolist(), form)
    assert math.isclose(float(orthogonality_loss(gen, rec, form)), expected, rel_tol=1e-12)
    # one generative sample: no generative pair, the restoration pairs still count
    expected1 = orthog_by_hand(gen[:1].tolist(), rec.tolist(), form)
    assert math.isclose(float(orthogonality_loss(gen[:1], rec, form)), expected1, rel_tol=1e-12)


def test_orthogonality_optimum_and_errors():
    gen = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    rec = torch.tensor([[0.0, 1.0, 0.0], [0.0, 3.0, 0.0]])
    assert float(orthogonality_loss(gen, rec, "opl")) == 0.0  # aligned within, orthogonal across
    assert float(orthogonality_loss(gen, rec, "literal")) == 2.0    # (1 - 0) + |1|
    with pytest.raises(ValueError, match="form"):
        orthogonality_loss(gen, rec, "cosine")


def test_importance_accumulation_and_penalty_by_hand():
    fisher, absgrad, n = accumulate_importance(
        [{"a": torch.tensor([1.0, -1.0]), "b": torch.tensor([2.0])},
         {"a": torch.tensor([3.0, 1.0]), "b": torch.tensor([-4.0])}])
    assert n == 2
    assert fisher["a"].tolist() == [5.0, 1.0] and fisher["b"].tolist() == [10.0]
    assert absgrad["a"].tolist() == [2.0, 1.0] and absgrad["b"].tolist() == [3.0]
    params = {"a": torch.tensor([1.5, 0.0]), "b": torch.tensor([1.0]), "new": torch.ones(3)}
    pre = {"a": torch.tensor([1.0, 1.0]), "b": torch.tensor([0.0])}
    # lam * [f_a (1/2 (5*0.25 + 1*1)) + f_b (1/2 * 10 * 1)], f_a = 1, f_b = 0.5; "new" is free
    got = importance_penalty(params, pre, fisher, lam=0.2, layer_factor={"a": 1.0, "b": 0.5})
    assert math.isclose(float(got), 0.2 * (0.5 * (1.25 + 1.0) + 0.5 * 5.0), rel_tol=1e-6)
    # + first-order term sum |g| |delta|: a: 2*0.5 + 1*1 = 2, b: 3*1 = 3
    got1 = importance_penalty(params, pre, fisher, lam=1.0, first_order=absgrad)
    assert math.isclose(float(got1), 0.5 * 2.25 + 5.0 + 2.0 + 3.0, rel_tol=1e-6)


def _tiny_problem():
    g = torch.Generator().manual_seed(1)
    w1 = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, 3, generator=g, dtype=torch.float64)
    y = torch.randn(5, 2, generator=g, dtype=torch.float64)

    def loss(p, xi, yi):
        h = torch.tanh(xi @ p["w1"].t())
        return ((h @ w2.t() - yi) ** 2).mean()    # w2 is closed over (a "deep" layer)

    return w1, w2, x, y, loss


def test_per_sample_gradients_vmap_equals_explicit_backward():
    w1, _w2, x, y, loss = _tiny_problem()
    g_vmap = per_sample_grads(loss, {"w1": w1}, (x, y), "vmap")
    g_loop = per_sample_grads(loss, {"w1": w1}, (x, y), "loop")
    explicit = []
    for i in range(5):
        (gi,) = torch.autograd.grad(loss({"w1": w1}, x[i:i + 1], y[i:i + 1]), [w1])
        explicit.append(gi.reshape(-1))
    explicit = torch.stack(explicit)
    assert torch.allclose(g_vmap, explicit, atol=1e-12)
    assert torch.allclose(g_loop, explicit, atol=1e-12)


def test_orthogonality_has_real_second_order_gradients():
    """d L_orthog / d w (for the shallow w1 and the closed-over w2) from torch.func equals the
    explicit create_graph loop and central finite differences."""
    w1, w2, x, y, loss = _tiny_problem()

    def total(method):
        g = per_sample_grads(loss, {"w1": w1}, (x, y), method)
        return orthogonality_loss(g[:2], g[2:])

    lv = total("vmap")
    d1, d2 = torch.autograd.grad(lv, [w1, w2])
    l1, l2 = torch.autograd.grad(total("loop"), [w1, w2])
    assert torch.allclose(d1, l1, atol=1e-10) and torch.allclose(d2, l2, atol=1e-10)
    assert float(d1.abs().sum()) > 0 and float(d2.abs().sum()) > 0
    h = 1e-6
    for w, d, idx in ((w1, d1, (1, 2)), (w2, d2, (0, 3))):
        with torch.no_grad():
            w[idx] += h
        up = float(total("loop").detach())
        with torch.no_grad():
            w[idx] -= 2 * h
        down = float(total("loop").detach())
        with torch.no_grad():
            w[idx] += h
        assert math.isclose((up - down) / (2 * h), float(d[idx]), rel_tol=1e-5, abs_tol=1e-8)


def test_stochastic_round_has_the_right_mean():
    g = torch.Generator().manual_seed(0)
    draws = [stochastic_round(1.78, g) for _ in range(4000)]
    assert set(draws) == {1, 2}
    assert abs(sum(draws) / len(draws) - 1.78) < 0.03


def test_default_orthogonality_is_eedtps_one_minus_cosine():
    """EEDTP `GradientOrthogonalLoss.compute`: 1 - cos(g_gen, g_res) of two gradient vectors
    (F.cosine_similarity). g_gen = (1, 2, 2), g_res = (2, 0, 1): cos = 4 / (3 sqrt 5)."""
    g_gen = torch.tensor([[1.0, 2.0, 2.0]], dtype=torch.float64)
    g_res = torch.tensor([[2.0, 0.0, 1.0]], dtype=torch.float64)
    expected = 1.0 - 4.0 / (3.0 * math.sqrt(5.0))          # 0.403715...
    assert math.isclose(float(orthogonality_loss(g_gen, g_res)), expected, rel_tol=1e-12)
    # the loss falls as the cosine rises: aligned gradients are its optimum (0), not orthogonal
    assert float(orthogonality_loss(g_gen, g_gen)) == pytest.approx(0.0, abs=1e-12)
    assert float(orthogonality_loss(g_gen, torch.tensor([[2.0, -1.0, 0.0]],
                                                        dtype=torch.float64))) == 1.0


def test_eedtp_penalty_by_hand():
    """EEDTP `ParameterRegularizer.loss`: lambda * sum(w |d| + 1/2 w^2 d^2), w = mean |grad|.
    w = (0.5, 2.0), d = (0.1, -0.3): 0.05 + 0.6 + (0.25 * 0.01 + 4 * 0.09) / 2 = 0.83125."""
    from aioir.models.diffusion.regularizers import eedtp_penalty

    params = {"a": torch.tensor([1.1, 0.7], dtype=torch.float64), "free": torch.ones(2)}
    pre = {"a": torch.tensor([1.0, 1.0], dtype=torch.float64)}
    w = {"a": torch.tensor([0.5, 2.0], dtype=torch.float64)}
    assert math.isclose(float(eedtp_penalty(params, pre, w, lam=0.2)), 0.2 * 0.83125,
                        rel_tol=1e-12)
    assert math.isclose(float(eedtp_penalty(params, pre, w, lam=0.2, layer_factor={"a": 0.5})),
                        0.1 * 0.83125, rel_tol=1e-12)
