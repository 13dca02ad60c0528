"""Gradient combinations from the Gram matrix, against direct computations on explicit vectors.

Each reference below works on the gradient vectors themselves (numpy), as the papers write the
methods, and is compared with ``c^T G`` from the Gram-only coefficients; CAGrad's simplex problem
is checked against SciPy's SLSQP (the official code's solver) and Nash-MTL's against its defining
equation and closed-form cases.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aioir.strategies.gram import (
    cagrad_coefficients,
    imtl_g_coefficients,
    nash_coefficients,
    pcgrad_coefficients,
    project_simplex,
)


def _grads(seed: int, n: int, dim: int = 12, conflict: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n, dim))
    if conflict:
        g[1] = -0.7 * g[0] + 0.3 * rng.normal(size=dim)  # a conflicting pair
    return g


def _gram(g: np.ndarray) -> torch.Tensor:
    return torch.tensor(g @ g.T, dtype=torch.float64)


def _pcgrad_direct(g: np.ndarray, orders) -> np.ndarray:
    """Yu et al. Algorithm 1 on the vectors."""
    out = []
    for i in range(len(g)):
        v = g[i].copy()
        for j in orders[i]:
            if j != i and v @ g[j] < 0:
                v = v - (v @ g[j]) / (g[j] @ g[j]) * g[j]
        out.append(v)
    return np.sum(out, axis=0)


@pytest.mark.parametrize("seed", range(5))
def test_pcgrad_coefficients_reproduce_the_projected_sum(seed: int) -> None:
    n = 4
    g = _grads(seed, n)
    rng = np.random.default_rng(100 + seed)
    orders = [rng.permutation(n).tolist() for _ in range(n)]
    c = pcgrad_coefficients(_gram(g), orders).numpy()
    np.testing.assert_allclose(c @ g, _pcgrad_direct(g, orders), rtol=1e-10, atol=1e-12)


def test_pcgrad_without_conflict_is_the_plain_sum() -> None:
    g = np.abs(_grads(0, 3, conflict=False))  # positive vectors: no dot product is negative
    c = pcgrad_coefficients(_gram(g), [[0, 1, 2]] * 3).numpy()
    np.testing.assert_allclose(c, [1.0, 1.0, 1.0])


def test_simplex_projection_is_the_nearest_point() -> None:
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    for _ in range(5):
        v = rng.normal(size=5) * 2
        ours = project_simplex(torch.tensor(v)).numpy()
        res = minimize(lambda w: ((w - v) ** 2).sum(), np.full(5, 0.2), method="SLSQP",  # noqa: B023 - runs in this iteration
                       bounds=[(0, 1)] * 5,
                       constraints={"type": "eq", "fun": lambda w: w.sum() - 1}, tol=1e-14)
        assert ours.sum() == pytest.approx(1.0) and (ours >= 0).all()
        np.testing.assert_allclose(ours, res.x, atol=1e-6)


def _cagrad_official(g: np.ndarray, c: float, rescale: int = 1) -> np.ndarray:
    """The official CAGrad update (Liu et al. 2021 code): SLSQP on the simplex."""
    from scipy.optimize import minimize

    n = len(g)
    A = g @ g.T
    b = np.ones(n) / n
    coef = c * np.sqrt(A.mean() + 1e-8) + 1e-8

    def obj(x):
        return x @ A @ b + coef * np.sqrt(x @ A @ x + 1e-8)

    res = minimize(obj, b.copy(), bounds=[(0, 1)] * n, method="SLSQP",
                   constraints={"type": "eq", "fun": lambda x: 1 - x.sum()},
                   options={"ftol": 1e-15, "maxiter": 1000})
    w = res.x
    gw = w @ g
    d = g.mean(0) + coef / (np.linalg.norm(gw) + 1e-8) * gw
    return d / (1 + c**2) if rescale == 1 else d


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("c", [0.2, 0.4, 0.9])
def test_cagrad_matches_the_official_slsqp_solution(seed: int, c: float) -> None:
    g = _grads(seed, 3 + seed % 3)
    ours = cagrad_coefficients(_gram(g), c).numpy() @ g
    ref = _cagrad_official(g, c)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())


def test_cagrad_with_c_zero_is_the_mean_gradient() -> None:
    g = _grads(3, 4)
    # up to the official 1e-8 guard added to the radius
    np.testing.assert_allclose(cagrad_coefficients(_gram(g), 0.0).numpy() @ g, g.mean(0),
                               rtol=1e-6)


def _imtl_direct(g: np.ndarray) -> np.ndarray:
    """Liu et al. 2021 Eq. 9 on the vectors: alpha_{2:} = g1 U^T (D U^T)^{-1}."""
    u = g / np.linalg.norm(g, axis=1, keepdims=True)
    D = g[0] - g[1:]
    U = u[0] - u[1:]
    rest = g[0] @ U.T @ np.linalg.inv(D @ U.T)
    alpha = np.concatenate([[1 - rest.sum()], rest])
    return alpha @ g


@pytest.mark.parametrize("seed", range(5))
def test_imtl_g_matches_the_closed_form_and_equalises_projections(seed: int) -> None:
    g = _grads(seed, 2 + seed % 4)
    c = imtl_g_coefficients(_gram(g)).numpy()
    d = c @ g
    np.testing.assert_allclose(d, _imtl_direct(g), rtol=1e-8, atol=1e-10)
    u = g / np.linalg.norm(g, axis=1, keepdims=True)
    proj = u @ d
    np.testing.assert_allclose(proj, np.full_like(proj, proj[0]), rtol=1e-8)
    assert c.sum() == pytest.approx(1.0)


def test_imtl_g_of_one_task_is_its_gradient() -> None:
    assert imtl_g_coefficients(torch.tensor([[4.0]], dtype=torch.float64)).tolist() == [1.0]


def test_nash_closed_forms() -> None:
    # orthogonal gradients: A diagonal, alpha_k A_kk alpha_k = 1, alpha_k = 1 / |g_k|
    diag = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64)
    a = nash_coefficients(torch.diag(diag))
    np.testing.assert_allclose(a.numpy(), 1 / np.sqrt(diag.numpy()), rtol=1e-6)
    # [[2, 1], [1, 2]]: symmetric solution a * 3a = 1
    a = nash_coefficients(torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64))
    np.testing.assert_allclose(a.numpy(), [3 ** -0.5] * 2, rtol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_nash_solves_its_bargaining_equation(seed: int) -> None:
    g = _grads(seed, 2 + seed % 4, conflict=seed % 2 == 0)
    A = g @ g.T
    a = nash_coefficients(_gram(g)).numpy()
    assert (a > 0).all()
    np.testing.assert_allclose(A @ a, 1 / a, rtol=1e-6)
    # the same solution from a warm start elsewhere
    b = nash_coefficients(_gram(g), start=torch.full((len(g),), 3.0, dtype=torch.float64))
    np.testing.assert_allclose(b.numpy(), a, rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-4, 1.0, 30.0])
def test_nash_matches_a_root_of_the_official_system(scale: float) -> None:
    """The official code's (and LibMTL's) CVXPY problem has the constraints
    ``-log(alpha_i * n) - log((G G^T / n) alpha)_i <= 0``, n = |G G^T|_F, active at its optimum:
    ``alpha_i (G G^T alpha)_i = 1`` with the raw Gram matrix. Reference: SciPy's root finder on
    those equations, written here; the update ``d = G^T alpha`` then has length sqrt(K) whatever
    the gradients' scale (the earlier solution of the normalised system scaled with them)."""
    from scipy.optimize import root

    g = scale * np.array([[1.0, 0.5, -0.2, 0.0, 0.3],
                          [-0.4, 1.2, 0.1, 0.7, 0.0],
                          [0.2, -0.9, 0.8, 0.1, -0.5]])
    A = g @ g.T
    K = len(g)

    def equations(log_alpha):
        alpha = np.exp(log_alpha)          # alpha > 0
        return alpha * (A @ alpha) - 1.0

    sol = root(equations, np.zeros(K) - np.log(scale), tol=1e-14)
    assert sol.success
    ref = np.exp(sol.x)
    got = nash_coefficients(torch.tensor(A, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got @ g), np.sqrt(K), rtol=1e-6)
