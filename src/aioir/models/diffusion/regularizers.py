"""The GEF regularisers: parameter-importance regularisation and gradient orthogonality.

**L_reg** (the paper's Eq. 14-16, Appendix E.3, Algorithm 6). Pre-training is task 0, fine-tuning
task 1. The importance of parameter ``k`` is read from gradients of the *generative* loss at the
pre-trained weights ``theta_pre``, accumulated over batches:

* ``absgrad_k = w_k = mean_b |dL_b / dtheta_k|``: Algorithm 6 line 5 (``grad f <- |grad L|``) and
  the authors' released code (EEDTP ``ParameterRegularizer.compute_importance``: the mean over 50
  fine-tuning batches of ``|grad|`` of the generative loss on their ground truths);
* ``fisher_k = mean_b (dL_b / dtheta_k)^2``: the Gauss-Newton approximation of the second
  derivative (Eq. 25), used by the ``"second_order"`` form.

Two forms of the penalty (``delta_k = theta_k - theta_pre_k``, ``f_l(k)`` the layer-wise factor,
see :mod:`aioir.models.diffusion.finetune`):

* ``"eedtp"`` (default): Eq. 16 with both terms, the gradient ``w_k`` and the Hessian
  approximated by ``w_k^2`` (Eq. 25's product of first derivatives), as EEDTP's
  ``ParameterRegularizer.loss``: ``L_reg = lambda * sum_k f_l(k) [w_k |delta_k| +
  1/2 w_k^2 delta_k^2]``, raw ``w`` (no normalisation), ``lambda = 0.2``;
* ``"second_order"``: ``lambda * sum_k f_l(k) [1/2 Omega_k delta_k^2 (+ first_order_k
  |delta_k|)]`` with ``Omega`` given (the project's earlier reading: ``fisher`` divided by its mean).

**L_orthog** (Eq. 17-20). With per-sample gradients ``g_i`` over the shallow layers of the
generative samples ``B_g`` and the restoration samples ``B_r`` and cosine similarities
``<g_i, g_j>`` (Eq. 20), ``L_orthog = (1 - s) + |d|``. Two readings of which pairs ``s`` and ``d``
average (self-pairs ``i = k`` are never counted; an empty set of pairs gives ``s = 1`` or
``d = 0``, so its term vanishes):

* ``"literal"`` (default): Eq. 17-18 as printed, ``s`` = mean cosine over *cross* pairs
  (generative vs restoration), ``d`` = mean cosine over pairs *within* a group: the cross cosine
  is driven to 1, as in EEDTP's ``GradientOrthogonalLoss`` (``1 - cos(g_gen, g_res)`` of the two
  batch gradients, which is this form with one sample per group);
* ``"opl"``: ``s`` over within pairs, ``d`` over cross pairs: the cross-objective gradients are
  driven to orthogonality (the orthogonal-projection loss; the project's earlier default).

Per-sample gradients come from ``torch.func`` (``vmap`` of ``grad`` over a ``functional_call``)
and keep their graph, so ``L_orthog`` has real gradients (second order through the network);
``method="loop"`` computes the same with one ``torch.autograd.grad(..., create_graph=True)`` per
sample (the reference the tests compare against, and a fallback for a backbone ``vmap`` cannot
trace).

>>> import torch
>>> g_gen = torch.tensor([[1.0, 0.0]])
>>> g_rec = torch.tensor([[1.0, 1.0]])
>>> round(float(orthogonality_loss(g_gen, g_rec)), 6)   # 1 - cos(45 degrees)
0.292893
>>> round(float(orthogonality_loss(g_gen, g_rec, "opl")), 6)   # |cos|: no within pairs
0.707107
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import torch

FORMS = ("literal", "opl")
REG_FORMS = ("eedtp", "second_order")
METHODS = ("vmap", "loop")


# ---------------------------------------------------------------------------- L_reg
def accumulate_importance(
    gradients: Iterable[Mapping[str, torch.Tensor]],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], int]:
    """Mean squared and mean absolute gradients over batches: ``(fisher, absgrad, count)``.

    >>> f, a, n = accumulate_importance([{"w": torch.tensor([1.0, -2.0])},
    ...                                  {"w": torch.tensor([3.0, 0.0])}])
    >>> f["w"].tolist(), a["w"].tolist(), n
    ([5.0, 2.0], [2.0, 1.0], 2)
    """
    fisher: dict[str, torch.Tensor] = {}
    absgrad: dict[str, torch.Tensor] = {}
    count = 0
    for grads in gradients:
        count += 1
        for name, g in grads.items():
            g = g.detach().double()
            fisher[name] = fisher.get(name, 0) + g * g
            absgrad[name] = absgrad.get(name, 0) + g.abs()
    if count == 0:
        raise ValueError("parameter importance needs at least one batch")
    return (
        {k: (v / count).float() for k, v in fisher.items()},
        {k: (v / count).float() for k, v in absgrad.items()},
        count,
    )


def importance_penalty(
    params: Mapping[str, torch.Tensor],
    theta_pre: Mapping[str, torch.Tensor],
    omega: Mapping[str, torch.Tensor],
    *,
    lam: float,
    layer_factor: Mapping[str, float] | None = None,
    first_order: Mapping[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """``lam * sum_k f_k [1/2 Omega_k delta_k^2 + (first_order_k |delta_k|)]`` over ``params``
    present in ``theta_pre`` (parameters the pre-trained network did not have are free).

    >>> p = {"w": torch.tensor([2.0, 0.0])}
    >>> pre, om = {"w": torch.tensor([1.0, 1.0])}, {"w": torch.tensor([4.0, 2.0])}
    >>> float(importance_penalty(p, pre, om, lam=0.5))            # 0.5 * (0.5*4*1 + 0.5*2*1)
    1.5
    >>> float(importance_penalty(p, pre, om, lam=0.5, first_order={"w": torch.ones(2)}))
    2.5
    """
    total = None
    for name, value in params.items():
        if name not in theta_pre:
            continue
        delta = value - theta_pre[name].to(value)
        term = 0.5 * (omega[name].to(value) * delta * delta).sum()
        if first_order is not None:
            term = term + (first_order[name].to(value) * delta.abs()).sum()
        if layer_factor is not None:
            term = term * float(layer_factor.get(name, 1.0))
        total = term if total is None else total + term
    if total is None:
        ref = next(iter(params.values()))
        return ref.new_zeros(())
    return lam * total


def eedtp_penalty(
    params: Mapping[str, torch.Tensor],
    theta_pre: Mapping[str, torch.Tensor],
    weight: Mapping[str, torch.Tensor],
    *,
    lam: float,
    layer_factor: Mapping[str, float] | None = None,
) -> torch.Tensor:
    """Eq. 16 as EEDTP computes it: ``lam * sum_k f_k [w_k |delta_k| + 1/2 w_k^2 delta_k^2]``
    over ``params`` present in ``theta_pre`` (``w``: the raw mean absolute gradient).

    >>> p = {"w": torch.tensor([2.0, 0.0])}
    >>> pre, w = {"w": torch.tensor([1.0, 1.0])}, {"w": torch.tensor([4.0, 2.0])}
    >>> float(eedtp_penalty(p, pre, w, lam=0.5))   # 0.5 * ((4 + 8) + (2 + 2))
    8.0
    """
    # importance_penalty's two terms with Omega = w^2 and the first-order weight w
    squared = {name: w * w for name, w in weight.items() if name in theta_pre}
    return importance_penalty(params, theta_pre, squared, lam=lam, layer_factor=layer_factor,
                              first_order=weight)


# ---------------------------------------------------------------------------- L_orthog
def cosine_matrix(g: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Pairwise cosine similarities (Eq. 20) of the rows of ``g`` (N, P) -> (N, N)."""
    unit = g / g.norm(dim=1, keepdim=True).clamp(min=eps)
    return unit @ unit.t()


def orthogonality_loss(
    g_gen: torch.Tensor, g_rec: torch.Tensor, form: str = "literal"
) -> torch.Tensor:
    """``(1 - s) + |d|`` from per-sample gradients of the generative (n_g, P) and the restoration
    (n_r, P) samples; see the module docstring for ``form``."""
    if form not in FORMS:
        raise ValueError(f"orthogonality form must be one of {FORMS}, got {form!r}")
    n_g, n_r = g_gen.shape[0], g_rec.shape[0]
    cos = cosine_matrix(torch.cat([g_gen, g_rec], dim=0))
    cross = cos[:n_g, n_g:]
    off = ~torch.eye(n_g + n_r, dtype=torch.bool, device=cos.device)
    same = torch.zeros_like(off)
    same[:n_g, :n_g] = True
    same[n_g:, n_g:] = True
    within = cos[same & off]
    cross_mean = cross.mean() if cross.numel() else None
    within_mean = within.mean() if within.numel() else None
    if form == "opl":
        s, d = within_mean, cross_mean
    else:
        s, d = cross_mean, within_mean
    zero = cos.new_zeros(())
    return (1.0 - s if s is not None else zero) + (d.abs() if d is not None else zero)


def per_sample_grads(
    loss_fn: Callable[..., torch.Tensor],
    params: Mapping[str, torch.Tensor],
    inputs: tuple[torch.Tensor, ...],
    method: str = "vmap",
) -> torch.Tensor:
    """Per-sample gradients of ``loss_fn`` with respect to ``params``, flattened: (N, P).

    ``loss_fn(params, *sample)`` returns the scalar loss of one sample; each ``sample`` tensor
    keeps a leading batch dimension of 1 (``inputs`` hold N samples along dimension 0). The
    result keeps its graph: it is differentiable with respect to ``params`` and to anything
    ``loss_fn`` closes over.
    """
    if method not in METHODS:
        raise ValueError(f"per-sample gradient method must be one of {METHODS}, got {method!r}")
    names = list(params)
    if method == "vmap":
        from torch.func import grad, vmap

        def one(p: dict[str, torch.Tensor], *sample: torch.Tensor) -> torch.Tensor:
            return loss_fn(p, *(s.unsqueeze(0) for s in sample))

        in_dims = (None,) + (0,) * len(inputs)
        grads = vmap(grad(one), in_dims=in_dims, randomness="different")(dict(params), *inputs)
        return torch.cat([grads[n].reshape(grads[n].shape[0], -1) for n in names], dim=1)
    rows = []
    tensors = [params[n] for n in names]
    for i in range(inputs[0].shape[0]):
        loss = loss_fn(dict(params), *(x[i : i + 1] for x in inputs))
        gs = torch.autograd.grad(loss, tensors, create_graph=True, allow_unused=True)
        rows.append(torch.cat([
            (g if g is not None else torch.zeros_like(t)).reshape(-1) for g, t in zip(gs, tensors)
        ]))
    return torch.stack(rows)


def stochastic_round(x: float, generator: torch.Generator | None = None) -> int:
    """``floor(x)`` plus one with probability ``x - floor(x)``: an integer with mean ``x``.

    >>> stochastic_round(3.0)
    3
    """
    base = math.floor(x)
    frac = x - base
    if frac <= 0:
        return int(base)
    return int(base) + int(float(torch.rand((), generator=generator)) < frac)
