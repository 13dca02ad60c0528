"""Gradient combinations as coefficients computed from the Gram matrix of the task gradients.

Every gradient method here turns the per-task gradients ``g_1 .. g_n`` (of the tasks present in
a step, on the shared parameters) into one update ``d = sum_k c_k g_k``, and each needs only the
dot products ``A = G G^T`` (``A_ij = g_i . g_j``) to find ``c``: the projections of PCGrad, the
simplex problem of CAGrad, the closed form of IMTL-G and the Nash bargaining system all live in
that ``n x n`` space. So each function below maps ``A`` (float64, ``n x n``, symmetric PSD) to the
coefficients ``c`` (``n``,); :class:`~aioir.strategies.gradient.GradientStrategy` forms ``A`` once
from the (all-reduced) gradients and writes ``d`` into the shared parameters' ``.grad``. The
functions are pure and tested against direct computations on explicit gradient vectors.

>>> import torch
>>> A = torch.tensor([[1.0, -1.0], [-1.0, 4.0]], dtype=torch.float64)  # g1 . g2 < 0
>>> pcgrad_coefficients(A, [[0, 1], [1, 0]]).tolist()
[2.0, 1.25]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_TINY = 1e-20


def _check_gram(gram: torch.Tensor) -> int:
    if gram.dim() != 2 or gram.shape[0] != gram.shape[1]:
        raise ValueError(f"gram must be a square matrix, got {tuple(gram.shape)}")
    return gram.shape[0]


def pcgrad_coefficients(gram: torch.Tensor, orders: Sequence[Sequence[int]]) -> torch.Tensor:
    """PCGrad (Yu et al., NeurIPS 2020, Algorithm 1) in coefficient space.

    For each task ``i``: ``g_i^PC = g_i``; for ``j`` in ``orders[i]`` (a random order of the
    tasks; ``j == i`` is skipped), if ``g_i^PC . g_j < 0`` then
    ``g_i^PC <- g_i^PC - (g_i^PC . g_j) / |g_j|^2 g_j``. The update is ``sum_i g_i^PC``.
    Each ``g_i^PC`` is tracked as coefficients over the original gradients, so every dot product
    is read from ``gram``. Returns ``c`` with ``sum_i g_i^PC = sum_k c_k g_k`` (the paper's sum;
    the strategy divides by ``n`` for the mean scale).
    """
    n = _check_gram(gram)
    total = torch.zeros(n, dtype=gram.dtype)
    for i in range(n):
        a = torch.zeros(n, dtype=gram.dtype)
        a[i] = 1.0
        for j in orders[i]:
            if j == i or gram[j, j] <= _TINY:
                continue
            dot = a @ gram[:, j]
            if dot < 0:
                a[j] -= dot / gram[j, j]
        total += a
    return total


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of ``v`` onto the probability simplex (sort-based algorithm).

    >>> import torch
    >>> project_simplex(torch.tensor([0.5, 0.5, 3.0], dtype=torch.float64)).tolist()
    [0.0, 0.0, 1.0]
    """
    n = v.numel()
    u, _ = torch.sort(v, descending=True)
    css = torch.cumsum(u, 0) - 1.0
    ind = torch.arange(1, n + 1, dtype=v.dtype)
    rho = int((u - css / ind > 0).nonzero().max())
    theta = css[rho] / (rho + 1)
    return (v - theta).clamp_min(0.0)


def cagrad_coefficients(
    gram: torch.Tensor, c: float = 0.4, rescale: int = 1, iters: int = 2000, tol: float = 1e-12
) -> torch.Tensor:
    """CAGrad (Liu et al., NeurIPS 2021, Eq. 3 / Algorithm 1; the official code's form).

    With ``g0 = mean_k g_k`` (so ``|g0| = sqrt(mean(A))``) and ``phi = c^2 |g0|^2``, solve
    ``min_{w in simplex} w^T A b + sqrt(phi) sqrt(w^T A w)`` (``b = 1/n``; the official objective,
    including its ``1e-8`` guards) by projected gradient descent with backtracking (a convex
    problem in ``n`` unknowns; the official code calls SciPy's SLSQP), then
    ``d = g0 + sqrt(phi) / |g_w| g_w`` and, with ``rescale=1`` (the official default),
    ``d / (1 + c^2)`` (``rescale=2``: ``/ (1 + c)``; ``0``: none). Returns ``c`` with
    ``d = sum_k c_k g_k``.
    """
    n = _check_gram(gram)
    if c < 0:
        raise ValueError(f"c must be >= 0, got {c}")
    A = gram
    b = torch.full((n,), 1.0 / n, dtype=A.dtype)
    g0_norm = torch.sqrt(A.mean() + 1e-8)
    coef = c * g0_norm + 1e-8
    Ab = A @ b

    def obj(w: torch.Tensor) -> torch.Tensor:
        return w @ Ab + coef * torch.sqrt(w @ A @ w + 1e-8)

    def grad(w: torch.Tensor) -> torch.Tensor:
        return Ab + coef * (A @ w) / torch.sqrt(w @ A @ w + 1e-8)

    w = b.clone()
    f = obj(w)
    step = 1.0 / (float(torch.linalg.matrix_norm(A, 2)) + float(coef) + 1e-12)
    for _ in range(iters):
        g = grad(w)
        while True:
            cand = project_simplex(w - step * g)
            fc = obj(cand)
            # sufficient decrease for projected gradient (backtracking on the step)
            if fc <= f + g @ (cand - w) + (cand - w).square().sum() / (2 * step) or step < 1e-30:
                break
            step *= 0.5
        moved = float((cand - w).abs().max())
        w, f = cand, fc
        step *= 2.0
        if moved < tol:
            break
    gw_norm = torch.sqrt(w @ A @ w)
    lam = coef / (gw_norm + 1e-8)
    coeffs = b + lam * w
    if rescale == 1:
        coeffs = coeffs / (1 + c**2)
    elif rescale == 2:
        coeffs = coeffs / (1 + c)
    elif rescale != 0:
        raise ValueError(f"rescale must be 0, 1 or 2, got {rescale}")
    return coeffs


def imtl_g_coefficients(gram: torch.Tensor) -> torch.Tensor:
    """IMTL-G (Liu et al., ICLR 2021, Eq. 7-9): ``d = sum alpha_k g_k`` with ``sum alpha = 1`` and
    equal projections of ``d`` onto every unit gradient ``u_k = g_k / |g_k|``.

    Closed form: with ``D = [g_1 - g_k]_{k>=2}``, ``U = [u_1 - u_k]_{k>=2}``,
    ``alpha_{2:n} = g_1 U^T (D U^T)^{-1}``, ``alpha_1 = 1 - sum alpha_{2:n}``; every product is
    read from ``gram``. A singular ``D U^T`` (parallel gradients) uses the pseudo-inverse.
    """
    n = _check_gram(gram)
    if n == 1:
        return torch.ones(1, dtype=gram.dtype)
    norms = torch.sqrt(torch.diagonal(gram).clamp_min(_TINY))
    # g_i . u_j = A_ij / |g_j|
    gu = gram / norms.unsqueeze(0)
    # (g_1 - g_i) . (u_1 - u_j) for i, j >= 2
    du = gu[0, 0] - gu[0, 1:].unsqueeze(0) - gu[1:, 0].unsqueeze(1) + gu[1:, 1:]
    first = gu[0, 0] - gu[0, 1:]  # g_1 . (u_1 - u_j)
    try:
        rest = torch.linalg.solve(du.T, first)
    except RuntimeError:
        rest = torch.linalg.pinv(du.T) @ first
    if not bool(torch.isfinite(rest).all()):
        rest = torch.linalg.pinv(du.T) @ first
    return torch.cat([(1 - rest.sum()).unsqueeze(0), rest])


def nash_coefficients(
    gram: torch.Tensor,
    start: torch.Tensor | None = None,
    iters: int = 100,
    tol: float = 1e-10,
    ridge: float = 1e-10,
) -> torch.Tensor:
    """Nash-MTL (Navon et al., ICML 2022, Eq. 2): ``alpha > 0`` with ``alpha_k (A alpha)_k = 1``.

    This is the system the official code and LibMTL solve: their CVXPY problem normalises
    ``A`` by ``s = |A|_F`` for conditioning but its constraints ``alpha_k s (A/s alpha)_k >= 1``
    are the raw system, so ``alpha`` scales as ``1 / |g|`` and the update
    ``d = sum alpha_k g_k`` has ``|d|^2 = alpha^T A alpha = K`` whatever the gradients' scale.
    Here the normalised system ``beta_k (A/s beta)_k = 1`` is solved (``beta = sqrt(s) alpha``) as
    the stationarity condition of the strictly convex ``f(beta) = 1/2 beta^T (A/s) beta -
    sum log beta`` (plus ``ridge/2 |beta|^2`` so a zero gradient cannot send it to infinity) by
    damped Newton steps that keep ``beta > 0`` (no solver dependency), and ``alpha = beta /
    sqrt(s)`` is returned. ``start`` warm-starts from a previous ``alpha``.

    >>> A = torch.tensor([[4.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> [round(v, 6) for v in nash_coefficients(A).tolist()]   # alpha_k = 1 / |g_k|
    [0.5, 1.0]
    >>> [round(v, 6) for v in nash_coefficients(100.0 * A).tolist()]
    [0.05, 0.1]
    """
    n = _check_gram(gram)
    scale = torch.linalg.matrix_norm(gram).clamp_min(_TINY)
    root = torch.sqrt(scale)
    A = gram / scale + ridge * torch.eye(n, dtype=gram.dtype)
    alpha = (
        start.to(gram.dtype).clone() * root
        if start is not None and start.numel() == n and bool((start > 0).all())
        else torch.ones(n, dtype=gram.dtype)
    )

    def f(a: torch.Tensor) -> torch.Tensor:
        return 0.5 * a @ A @ a - torch.log(a).sum()

    fa = f(alpha)
    for _ in range(iters):
        grad = A @ alpha - 1.0 / alpha
        if float(grad.abs().max()) < tol:
            break
        hess = A + torch.diag(1.0 / alpha.square())
        step = -torch.linalg.solve(hess, grad)
        t = 1.0
        neg = step < 0  # stay strictly positive (fraction to the boundary)
        if bool(neg.any()):
            t = min(1.0, 0.99 * float((-alpha[neg] / step[neg]).min()))
        while True:
            cand = alpha + t * step
            fc = f(cand)
            if fc <= fa + 1e-4 * t * (grad @ step) or t < 1e-12:
                break
            t *= 0.5
        alpha, fa = cand, fc
    return alpha / root
