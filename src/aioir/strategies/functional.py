"""Pure formulas behind the strategies: the tested reference for each paper equation.

Everything here is a plain function of tensors (no state, no modules), so each equation can be
checked by hand. Notation: a batch of ``B`` samples, ``pred``/``gt`` of shape ``(B, C, H, W)``,
``task_id`` of shape ``(B,)`` with values in ``[0, K)``, ``K = num_tasks``.

* :func:`pixel_error`, :func:`per_sample_loss`: the pixel loss ``rho`` every strategy uses
  (``l1``, ``charbonnier`` or ``l2``; one place in the code).
* :func:`per_task_sum_count`, :func:`per_task_mean`: grouping helpers.
* :func:`tur_loss`: TUR as the authors' code ran it (grouped per-pixel uncertainty, Laplace-like
  ``rho(e) / U`` with a ``2 log`` regulariser); :func:`tur_loss_gaussian`: TUR as written in the
  paper (Eq. 5-7, one ``sigma_k^2`` per task); :func:`ue_loss`: the ungrouped "vanilla
  uncertainty estimation" ablation (TUR paper, Table 6).
* :func:`art_weights`: Art's active reweighting (Art paper Eq. 4-8), with the log-transformed
  global correction of the authors' code, the paper's ablation switches and explicit numerical
  guards.

Gradient combinations (PCGrad, CAGrad, IMTL-G, Nash-MTL) are in :mod:`aioir.strategies.gram`.

>>> import torch
>>> means, present = per_task_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([0, 0, 2]), 3)
>>> means.tolist(), present.tolist()
([2.0, 0.0, 5.0], [True, False, True])
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: clamp for the losses inside Art's log-ratio: ``log10`` is taken of values in
#: ``[ART_LOG_EPS, 1 - ART_LOG_EPS]`` (see :func:`art_weights`)
ART_LOG_EPS = 1e-6


def _check_task_id(task_id: torch.Tensor, batch: int, num_tasks: int) -> None:
    if task_id.dim() != 1 or task_id.shape[0] != batch:
        raise ValueError(f"task_id must have shape ({batch},), got {tuple(task_id.shape)}")
    if task_id.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"task_id must be an integer tensor, got {task_id.dtype}")
    if batch and (int(task_id.min()) < 0 or int(task_id.max()) >= num_tasks):
        raise ValueError(
            f"task_id values must lie in [0, {num_tasks}), got {task_id.tolist()}"
        )


def _float(x: torch.Tensor) -> torch.Tensor:
    """``x`` in at least float32 (half-precision inputs under AMP are promoted)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def per_task_sum_count(
    values: torch.Tensor, task_id: torch.Tensor, num_tasks: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task sums and sample counts of per-sample ``values``.

    The counterpart of :func:`per_task_mean` for distributed training: sums and counts add up over
    ranks (``all_reduce_sum``), means do not. ``counts`` has the dtype of ``values`` so both can be
    stacked and reduced in one call. Differentiable in ``values``.

    Args:
        values: (B,) one value per sample.
        task_id: (B,) integer task of each sample, in ``[0, num_tasks)``.
        num_tasks: K.

    Returns:
        ``sums`` (K,) and ``counts`` (K,).

    >>> import torch
    >>> s, c = per_task_sum_count(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1, 1, 0]), 3)
    >>> s.tolist(), c.tolist()
    ([4.0, 3.0, 0.0], [1.0, 2.0, 0.0])
    """
    _check_task_id(task_id, values.shape[0], num_tasks)
    sums = values.new_zeros(num_tasks).index_add(0, task_id.long(), values)
    counts = values.new_zeros(num_tasks).index_add(0, task_id.long(), torch.ones_like(values))
    return sums, counts


def per_task_mean(
    values: torch.Tensor, task_id: torch.Tensor, num_tasks: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of per-sample ``values`` over each task's samples.

    Returns ``means`` (K,), 0 for tasks absent from the batch, and ``present`` (K,) bool.

    >>> import torch
    >>> m, p = per_task_mean(torch.tensor([2.0, 4.0]), torch.tensor([1, 1]), 2)
    >>> m.tolist(), p.tolist()
    ([0.0, 3.0], [False, True])
    """
    sums, counts = per_task_sum_count(values, task_id, num_tasks)
    return sums / counts.clamp_min(1), counts > 0


#: the pixel losses every strategy accepts (option ``loss``)
PIXEL_LOSSES = ("l1", "charbonnier", "l2")
#: default ``eps`` of the Charbonnier loss ``sqrt(e^2 + eps^2)`` (as MPRNet / Restormer-style
#: restoration code uses it, on images in [0, 1])
CHARBONNIER_EPS = 1e-3


def check_pixel_loss(loss: str, eps: float = CHARBONNIER_EPS) -> None:
    """Raise a clear error for an unknown pixel loss or a bad Charbonnier ``eps``."""
    if loss not in PIXEL_LOSSES:
        raise ValueError(f"loss must be one of {PIXEL_LOSSES}, got {loss!r}")
    if not eps > 0:
        raise ValueError(f"charbonnier_eps must be > 0, got {eps}")


def pixel_error(
    pred: torch.Tensor, gt: torch.Tensor, loss: str = "l1", eps: float = CHARBONNIER_EPS
) -> torch.Tensor:
    """The pixel loss ``rho(e)`` of every value, ``e = pred - gt`` (same shape, float32 or wider).

    * ``l1``: ``|e|``
    * ``charbonnier``: ``sqrt(e^2 + eps^2)`` (a smooth L1; ``eps`` = ``CHARBONNIER_EPS`` = 1e-3)
    * ``l2``: ``e^2`` (its mean is the MSE)

    >>> import torch
    >>> e = torch.tensor([0.0, 0.5, -2.0])
    >>> pixel_error(e, torch.zeros(3)).tolist(), pixel_error(e, torch.zeros(3), "l2").tolist()
    ([0.0, 0.5, 2.0], [0.0, 0.25, 4.0])
    >>> round(float(pixel_error(torch.zeros(1), torch.zeros(1), "charbonnier")), 6)
    0.001
    """
    if pred.shape != gt.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} differ in shape")
    check_pixel_loss(loss, eps)
    e = _float(pred) - _float(gt)
    if loss == "l1":
        return e.abs()
    if loss == "l2":
        return e.square()
    return torch.sqrt(e.square() + eps * eps)


def per_sample_loss(
    pred: torch.Tensor, gt: torch.Tensor, loss: str = "l1", eps: float = CHARBONNIER_EPS
) -> torch.Tensor:
    """Mean pixel loss of each sample over its ``C x H x W`` values: (B,).

    All samples of a batch have the same size, so the mean of these over a task's samples is the
    task's pixel loss (``F.l1_loss`` over the task's sub-batch for ``l1``, the MSE for ``l2``).

    >>> import torch
    >>> gt = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1).expand(2, 1, 2, 2)
    >>> per_sample_loss(torch.zeros(2, 1, 2, 2), gt)
    tensor([1., 3.])
    >>> per_sample_loss(torch.zeros(2, 1, 2, 2), gt, "l2")
    tensor([1., 9.])
    """
    return pixel_error(pred, gt, loss, eps).flatten(1).mean(1)


def _check_uncertainty(pred: torch.Tensor, uncertainty: torch.Tensor) -> None:
    if uncertainty.dim() != 4 or (
        uncertainty.shape[0] != pred.shape[0] or uncertainty.shape[2:] != pred.shape[2:]
    ):
        raise ValueError(
            f"uncertainty {tuple(uncertainty.shape)} must be (B, C or 1, H, W) matching pred "
            f"{tuple(pred.shape)}"
        )
    if uncertainty.shape[1] not in (1, pred.shape[1]):
        raise ValueError(
            f"uncertainty has {uncertainty.shape[1]} channels; pred has {pred.shape[1]}"
        )


def per_task_sum_count_maps(
    maps: torch.Tensor, task_id: torch.Tensor, num_tasks: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task sums of per-sample maps (B, ...): (K, ...), and sample counts (K,).

    >>> import torch
    >>> s, c = per_task_sum_count_maps(torch.ones(3, 2), torch.tensor([1, 1, 0]), 2)
    >>> s.tolist(), c.tolist()
    ([[1.0, 1.0], [2.0, 2.0]], [1.0, 2.0])
    """
    return _reduce_task_sums(maps, task_id, num_tasks, None)


def per_task_maps(
    maps: torch.Tensor, task_id: torch.Tensor, num_tasks: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task mean of per-sample maps (B, ...): (K, ...) (zeros for absent tasks), present (K,).

    >>> import torch
    >>> m, p = per_task_maps(torch.tensor([[1.0, 2.0], [3.0, 6.0]]), torch.tensor([1, 1]), 2)
    >>> m.tolist(), p.tolist()
    ([[0.0, 0.0], [2.0, 4.0]], [False, True])
    """
    _check_task_id(task_id, maps.shape[0], num_tasks)
    idx = task_id.long()
    sums = maps.new_zeros((num_tasks,) + maps.shape[1:]).index_add(0, idx, maps)
    counts = maps.new_zeros(num_tasks).index_add(0, idx, maps.new_ones(len(idx)))
    shape = (-1,) + (1,) * (maps.dim() - 1)
    return sums / counts.clamp_min(1).view(shape), counts > 0


def _mean_over_present(per_task: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    return per_task.sum() / present.sum().clamp_min(1)


#: a differentiable sum of a tensor over the ranks of a distributed run
Reduce = Callable[[torch.Tensor], torch.Tensor]


def _reduce_task_sums(
    values: torch.Tensor, task_id: torch.Tensor, num_tasks: int, reduce: Reduce | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task sums of per-sample ``values`` (B, ...) and sample counts, summed over ranks by
    ``reduce`` when given (one call; the sums keep their gradient through it)."""
    _check_task_id(task_id, values.shape[0], num_tasks)
    idx = task_id.long()
    sums = values.new_zeros((num_tasks,) + values.shape[1:]).index_add(0, idx, values)
    counts = values.new_zeros(num_tasks).index_add(0, idx, values.new_ones(len(idx)))
    if reduce is None:
        return sums, counts
    packed = reduce(torch.cat([sums.reshape(-1), counts]))
    return packed[: sums.numel()].view_as(sums), packed[sums.numel() :]


def tur_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    uncertainty: torch.Tensor,
    task_id: torch.Tensor,
    num_tasks: int,
    log_weight: float = 2.0,
    eps: float = 1e-6,
    loss: str = "l1",
    charbonnier_eps: float = CHARBONNIER_EPS,
    reduce: Reduce | None = None,
    world_size: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Task Uncertainty Regularization, the per-pixel form the authors' experiments ran.

    For every task ``k`` present in the batch, with ``S_k`` its samples and ``u_i`` the UEM map of
    sample ``i`` (positive, ``(C, H, W)``):

    * ``U_k = (1/|S_k|) sum_{i in S_k} u_i + eps``            (one per-pixel map per task)
    * ``L_k = mean_{i in S_k, c, y, x} rho(pred_i - gt_i) / U_k + log_weight * log(mean(U_k))``
    * ``total = (sum over present k of L_k) / (number of present tasks)``

    ``rho`` is the pixel loss (:func:`pixel_error`): ``|e|`` (``l1``, the authors' form) by
    default; ``charbonnier`` or ``l2`` generalise the authors' ``|e| / U`` to ``rho(e) / U``.

    This is the code's reading of TUR paper Eq. 5-6 (``1/(2 sigma_k^2)`` becomes a per-pixel
    ``1/U_k``, the Gaussian ``1/2 log sigma_k^2`` becomes ``2 log mean U_k``, and the task sum is
    divided by the number of tasks present). Unlike the authors' 3/5-task code, each task's
    samples are counted once (their lists were not reset between tasks).

    Args:
        pred, gt: (B, C, H, W).
        uncertainty: (B, C or 1, H, W) positive per-pixel maps (the UEM output).
        task_id: (B,) integer tasks in ``[0, num_tasks)``.
        num_tasks: K.
        log_weight: weight of the ``log(mean U_k)`` regulariser (2 in the authors' code).
        eps: added to the averaged map (1e-6 in the authors' code).
        loss, charbonnier_eps: the pixel loss ``rho`` (:func:`pixel_error`).
        reduce, world_size: distributed runs (see :func:`_reduce_task_sums`): a differentiable
            sum over ranks; the maps ``U_k`` and counts are then global, and the returned total is
            this rank's share, whose gradient averaged over ranks (DDP) is the gradient of the
            single-process loss on the global batch.

    Returns:
        ``total`` (scalar, differentiable in ``pred`` and ``uncertainty``) and ``per_task`` (K,)
        with ``L_k`` for present tasks and 0 for absent ones.

    >>> import torch
    >>> p, g = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    >>> total, per_task = tur_loss(p, g, torch.ones(2, 3, 4, 4), torch.tensor([0, 0]), 2, eps=0.0)
    >>> round(float(total), 4), per_task.tolist()
    (0.5, [0.5, 0.0])
    """
    _check_uncertainty(pred, uncertainty)
    err = pixel_error(pred, gt, loss, charbonnier_eps)
    sums, counts = _reduce_task_sums(_float(uncertainty), task_id, num_tasks, reduce)
    present = counts > 0
    shape = (-1,) + (1,) * (sums.dim() - 1)
    maps = sums / counts.clamp_min(1).view(shape) + eps
    idx = task_id.long()
    ratio = (err / maps[idx]).flatten(1).mean(1)  # (B,) mean of rho(e) / U_k over each sample
    ratio_sums, _ = per_task_sum_count(ratio, task_id, num_tasks)
    ratio_k = ratio_sums / counts.clamp_min(1)
    if world_size != 1:
        ratio_k = ratio_k * world_size
    # absent tasks have maps == eps; their log term is masked out below
    log_k = torch.log(maps.flatten(1).mean(1))
    per_task = torch.where(present, ratio_k + log_weight * log_k, torch.zeros_like(ratio_k))
    return _mean_over_present(per_task, present), per_task


def tur_loss_gaussian(
    pred: torch.Tensor,
    gt: torch.Tensor,
    uncertainty: torch.Tensor,
    task_id: torch.Tensor,
    num_tasks: int,
    eps: float = 1e-6,
    loss: str = "l2",
    charbonnier_eps: float = CHARBONNIER_EPS,
    reduce: Reduce | None = None,
    world_size: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """TUR as written in the paper (Eq. 5-7): one variance per task, Gaussian likelihood.

    ``sigma_k^2`` is the UEM output averaged over all of task ``k``'s samples, channels and
    pixels, plus ``eps`` (a scalar per task, as the paper's homoscedastic task uncertainty):

    * ``sigma_k^2 = mean_{i in S_k, c, y, x} u_i + eps``
    * ``L_k = MSE_k / (2 sigma_k^2) + 1/2 log sigma_k^2``     (Eq. 5, ``MSE_k`` over the task's
      samples and pixels, the squared L2 of Eq. 4; with ``loss="l1"`` or ``"charbonnier"`` the
      task's mean ``rho`` replaces the MSE)
    * ``total = (sum over present k of L_k) / (number of present tasks)``

    Eq. 6 sums over tasks; the division by the number of present tasks (as in the authors' code
    for the per-pixel form) keeps the scale of the loss independent of how many tasks a batch
    holds. Per-task weights ``w_k = 1 / (2 sigma_k^2)`` are Eq. 7's.

    Returns ``total`` and ``per_task`` (K,), 0 for absent tasks. ``reduce``/``world_size`` as in
    :func:`tur_loss` (``sigma_k^2`` and the counts global, the MSE term this rank's share).

    >>> import torch
    >>> p, g = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    >>> u = torch.full((1, 3, 2, 2), 0.5)
    >>> total, _ = tur_loss_gaussian(p, g, u, torch.tensor([0]), 1, eps=0.0)
    >>> round(float(total), 4)  # 1 / (2 * 0.5) + 0.5 * log(0.5)
    0.6534
    """
    _check_uncertainty(pred, uncertainty)
    sq = per_sample_loss(pred, gt, loss, charbonnier_eps)
    sq_sums, _ = per_task_sum_count(sq, task_id, num_tasks)
    u_sums, counts = _reduce_task_sums(_float(uncertainty).flatten(1).mean(1), task_id,
                                       num_tasks, reduce)
    present = counts > 0
    mse_k = sq_sums / counts.clamp_min(1)
    if world_size != 1:
        mse_k = mse_k * world_size
    var_k = u_sums / counts.clamp_min(1) + eps
    loss_k = mse_k / (2 * var_k) + 0.5 * torch.log(var_k)
    per_task = torch.where(present, loss_k, torch.zeros_like(loss_k))
    return _mean_over_present(per_task, present), per_task


def ue_loss(
    pred: torch.Tensor,
    gt: torch.Tensor,
    uncertainty: torch.Tensor,
    log_weight: float = 2.0,
    eps: float = 1e-6,
    loss: str = "l1",
    charbonnier_eps: float = CHARBONNIER_EPS,
    reduce: Reduce | None = None,
    world_size: int = 1,
) -> torch.Tensor:
    """Vanilla uncertainty estimation (TUR paper, Table 6 "UE"): per-sample maps, no grouping.

    With ``U = uncertainty + eps`` (each sample its own map) and ``rho`` the pixel loss:

    ``loss = mean_{i, c, y, x} rho(pred - gt) / U + log_weight * log(mean_{i, c, y, x} U)``

    i.e. :func:`tur_loss` with every sample using its own map and the whole batch treated as one
    group. ``reduce``/``world_size`` as in :func:`tur_loss` (the means over the global batch).

    >>> import torch
    >>> u = torch.ones(2, 3, 4, 4)
    >>> round(float(ue_loss(torch.zeros_like(u), torch.full_like(u, 0.5), u, eps=0.0)), 4)
    0.5
    """
    _check_uncertainty(pred, uncertainty)
    u = _float(uncertainty) + eps
    err = pixel_error(pred, gt, loss, charbonnier_eps)
    if reduce is None:
        return (err / u).mean() + log_weight * torch.log(u.mean())
    ratio_sum = (err / u).sum()
    n_err, n_u = float(err.numel()), float(u.numel())
    total = reduce(torch.stack([u.sum(), u.new_tensor(n_err), u.new_tensor(n_u)]))
    return ratio_sum / total[1] * world_size + log_weight * torch.log(total[0] / total[2])


#: Art's global-correction forms (option ``gcw``): log-transformed (paper/code), raw Eq. 7, off
ART_GCW = ("log", "raw", "none")


@torch.no_grad()
def art_weights(
    task_losses: torch.Tensor,
    ema_losses: torch.Tensor,
    min_losses: torch.Tensor,
    tau: float,
    present: torch.Tensor,
    *,
    lcr: bool = True,
    gcw: str = "log",
) -> torch.Tensor:
    """Art's active reweighting coefficients ``alpha`` (Art paper Eq. 4-8).

    For each present task ``t``:

    * local convergence rate (Eq. 5): ``s_t = L_t / L~_t`` with ``L~_t`` the EMA of the loss (pass
      the previous step's loss as ``ema_losses`` for the raw rate of Eq. 4); ``s_t = 1`` when
      ``lcr`` is False;
    * global correction: ``gcw="log"`` (Eq. 7 log-transformed as in the authors' code)
      ``r~_t = log10(L_min_t) / log10(L_t)``; ``gcw="raw"`` (Eq. 7 as written)
      ``r_t = L_t / L_min_t``; ``gcw="none"``: ``r_t = 1``;
    * ``alpha = softmax(s_t * r_t / tau)`` over the present tasks (Eq. 8); absent tasks get 0.

    The paper's ablation (Table 1) is: raw LCR alone, smoothed LCR alone, raw GCW alone, log GCW
    alone, smoothed LCR + log GCW (the method).

    Guards (the log-ratio is only meaningful for losses in ``(0, 1)``): inside ``r~`` both ``L_t``
    and ``L_min_t`` are clamped into ``[ART_LOG_EPS, 1 - ART_LOG_EPS]`` (``ART_LOG_EPS = 1e-6``),
    so ``log10(L) -> 0`` as ``L -> 1`` and ``log10(0)`` cannot produce inf/NaN; a loss above 1
    (where ``log10`` would flip the ratio's sign) is treated as ``1 - ART_LOG_EPS``, i.e. as the
    worst loss, which drives that task's weight up, as the formula does as ``L -> 1-``
    (:func:`art_clamped` flags those tasks). In ``s_t`` the loss is used unclamped (clamped below
    at 0) and the EMA clamped below at ``ART_LOG_EPS``; in the raw ``r_t`` the minimum is clamped
    below at ``ART_LOG_EPS``. The arithmetic is done in float64. No gradient flows through the
    weights.

    Args:
        task_losses: (K,) current per-task losses ``L_t`` (finite, >= 0).
        ema_losses: (K,) ``L~_t`` (the EMA before this step's update).
        min_losses: (K,) historical minima ``L_min_t``.
        tau: temperature (> 0).
        present: (K,) bool, tasks present in the batch.
        lcr: use the local convergence rate (False: ``s_t = 1``).
        gcw: ``"log"``, ``"raw"`` or ``"none"``.

    Returns:
        (K,) weights in the dtype of ``task_losses``: 0 for absent tasks, summing to 1 over the
        present ones (all zeros when no task is present).

    >>> import torch
    >>> w = art_weights(torch.tensor([0.1, 0.2, 0.3]), torch.full((3,), 0.1), torch.full((3,), 0.1),
    ...                 3.0, torch.tensor([True, True, False]))
    >>> [round(v, 4) for v in w.tolist()]
    [0.3497, 0.6503, 0.0]
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if gcw not in ART_GCW:
        raise ValueError(f"gcw must be one of {ART_GCW}, got {gcw!r}")
    loss = task_losses.detach().double()
    ema = ema_losses.detach().double().to(loss.device)
    low = min_losses.detach().double().to(loss.device)
    present = present.to(device=loss.device, dtype=torch.bool)
    lo, hi = ART_LOG_EPS, 1.0 - ART_LOG_EPS
    ones = torch.ones_like(loss)
    s = loss.clamp_min(0.0) / ema.clamp_min(ART_LOG_EPS) if lcr else ones
    if gcw == "log":
        r = torch.log10(low.clamp(lo, hi)) / torch.log10(loss.clamp(lo, hi))
    elif gcw == "raw":
        r = loss.clamp_min(0.0) / low.clamp_min(ART_LOG_EPS)
    else:
        r = ones
    score = torch.where(present, s * r / tau, torch.full_like(s, -torch.inf))
    if not bool(present.any()):
        return torch.zeros_like(task_losses)
    weights = torch.softmax(score, dim=0)
    return weights.where(present, torch.zeros_like(weights)).to(task_losses.dtype)


def art_clamped(task_losses: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Present tasks whose loss reached the log guard (``L_t >= 1 - ART_LOG_EPS``): (K,) bool.

    There ``log10(L_t) -> 0`` and the log-transformed correction gives the task (almost) all the
    weight; :class:`~aioir.strategies.art.ArtStrategy` warns and counts these.

    >>> import torch
    >>> art_clamped(torch.tensor([0.5, 1.0, 2.0]), torch.tensor([True, True, False])).tolist()
    [False, True, False]
    """
    return present.to(torch.bool) & (task_losses.detach() >= 1.0 - ART_LOG_EPS)


def normalise_present(values: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """``values`` scaled to sum to 1 over the present tasks; 0 for absent ones (no gradient).

    >>> import torch
    >>> normalise_present(torch.tensor([1.0, 5.0, 3.0]), torch.tensor([True, False, True])).tolist()
    [0.25, 0.0, 0.75]
    """
    v = torch.where(present, values.detach(), torch.zeros_like(values))
    return v / v.sum().clamp_min(torch.finfo(v.dtype).tiny)
