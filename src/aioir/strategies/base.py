"""The strategy contract: how per-task losses of one step become one update.

A strategy is an ``nn.Module`` so that its learnable parts (TUR's uncertainty head, UW's
log-variances) are ordinary parameters that the engine optimises (and DDP synchronises) and its
state (Art's EMAs and minima) lives in ``state_dict()`` for exact resume.

Life cycle, as the engine drives it (per optimizer step, ``m`` gradient-accumulation
micro-batches)::

    strategy.attach(model)                       # once: hooks (TUR taps model.uem_tap)
    for each micro-batch:
        out = strategy(pred, gt, task_id)        # StrategyOutput, inside the engine's forward
        strategy.backward(out, ctx)              # default: ctx.scale(ctx.total / m).backward()
    strategy.finish_backward(params, apply)      # default: nothing (gradient strategies combine)
    optimizer.step()
    strategy.after_step(out)                     # update running state (Art), after the step
    strategy.detach()                            # remove hooks; the model is the plain backbone

**Pixel loss.** Every strategy takes ``loss`` (``l1`` default, ``charbonnier``, ``l2``) and
``charbonnier_eps`` (1e-3); :meth:`Strategy.per_sample` is the one place that turns a prediction
into per-sample losses (:func:`aioir.strategies.functional.per_sample_loss`).

**Distributed runs.** The engine sets ``strategy.all_reduce_sum`` to a function that sums a tensor
over ranks (identity otherwise) and ``strategy.world_size``. :meth:`Strategy.task_statistics`
reduces per-task sums and counts through it, so every rank computes the same per-task losses,
weights and state, and returns each rank's *share* of the task means (local sums over global
counts, times the world size): DDP averages gradients over ranks, so ``sum_k w_k share_k``
back-propagates exactly the single-process gradient of ``sum_k w_k L_k`` on the global batch.

**Gradient strategies** (``reduces_gradients = True``, see
:class:`aioir.strategies.gradient.GradientStrategy`) own the backward pass for the shared
parameters: the engine then runs every micro-batch without DDP's gradient all-reduce and the
strategy reduces, combines and writes the gradients in :meth:`Strategy.finish_backward`. The engine
never branches on a strategy's name; it only reads this capability flag.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn as nn

from aioir.strategies.functional import (
    CHARBONNIER_EPS,
    check_pixel_loss,
    per_sample_loss,
    per_task_sum_count,
)

LOG = logging.getLogger("aioir")


@dataclass
class StrategyOutput:
    """What a strategy returns for one step.

    Attributes:
        loss: scalar to optimise (carries gradient); for gradient strategies a surrogate whose
            plain backward is the equal-weight (mean over present tasks) update.
        task_losses: (K,) raw per-task reconstruction loss (the strategy's pixel loss, mean over
            the task's samples; global under DDP), detached, 0 where the task is absent.
        weights: (K,) per-task weight the strategy applied, detached, 0 where absent.
        present: (K,) bool mask of the tasks present in the batch.
        extras: further (K,) or scalar tensors to log (e.g. mean uncertainty per task).
        task_terms: (K,) per-task objective terms with graph (this rank's sums over its samples)
            for strategies that own the backward pass; ``None`` otherwise.
        task_counts: (K,) this rank's samples per task, the denominators of ``task_terms``.
        plain_loss: for strategies that own the backward pass, the part of the objective that is
            back-propagated normally (terms for the strategy's own parameters); ``None`` if none.
    """

    loss: torch.Tensor
    task_losses: torch.Tensor
    weights: torch.Tensor
    present: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    task_terms: torch.Tensor | None = None
    task_counts: torch.Tensor | None = None
    plain_loss: torch.Tensor | None = None


@dataclass
class BackwardContext:
    """What the engine hands :meth:`Strategy.backward` for one micro-batch.

    Attributes:
        total: the engine's loss, ``recon_weight * out.loss + extra`` (what a plain backward
            differentiates).
        extra: the weighted sum of the model's auxiliary and extra losses (AirNet's contrastive
            term, TransWeather's perceptual term), or ``None``; added to the gradient as is.
        recon_weight: the stage's weight of the reconstruction loss.
        scale: loss scaling (``GradScaler.scale``; the identity without fp16 AMP).
        accum: number of micro-batches in this optimizer step.
        params: the parameters this step trains (optimizer parameters minus stage-frozen ones).
    """

    total: torch.Tensor
    extra: torch.Tensor | None
    recon_weight: float
    scale: Callable[[torch.Tensor], torch.Tensor]
    accum: int
    params: Sequence[nn.Parameter]


class TaskStats(NamedTuple):
    """Per-task statistics of one batch (see :meth:`Strategy.task_statistics`)."""

    share: torch.Tensor  # (K,) with graph: local sums / global counts * world size
    losses: torch.Tensor  # (K,) detached global per-task means (0 where absent)
    counts: torch.Tensor  # (K,) global sample counts
    present: torch.Tensor  # (K,) bool, globally present
    local_sums: torch.Tensor  # (K,) with graph: this rank's sums
    local_counts: torch.Tensor  # (K,) this rank's counts


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


class Strategy(nn.Module):
    """Base class. Subclasses implement :meth:`forward`; the rest has working defaults.

    Args:
        num_tasks: K.
        loss: pixel loss ``rho``: ``"l1"`` (default), ``"charbonnier"`` or ``"l2"``.
        charbonnier_eps: ``eps`` of ``sqrt(e^2 + eps^2)`` (1e-3).
    """

    #: registry name, set by subclasses
    name: str = ""
    #: True when the strategy reduces and combines gradients itself in :meth:`finish_backward`
    #: (the engine then keeps DDP from all-reducing them)
    reduces_gradients: bool = False

    def __init__(
        self, num_tasks: int, loss: str = "l1", charbonnier_eps: float = CHARBONNIER_EPS
    ) -> None:
        super().__init__()
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        check_pixel_loss(loss, charbonnier_eps)
        self.num_tasks = num_tasks
        self.pixel_loss = loss
        self.charbonnier_eps = float(charbonnier_eps)
        self.all_reduce_sum: Callable[[torch.Tensor], torch.Tensor] = _identity
        self.world_size = 1
        #: task names for messages (set by the engine); ``None``: "task k"
        self.task_names: list[str] | None = None
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ helpers
    def per_sample(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """Per-sample pixel loss (B,) with this strategy's ``loss``."""
        return per_sample_loss(pred, gt, self.pixel_loss, self.charbonnier_eps)

    def task_statistics(self, per_sample: torch.Tensor, task_id: torch.Tensor) -> TaskStats:
        """Per-task sums/counts, all-reduced over ranks, and this rank's share of the task means."""
        local_sums, local_counts = per_task_sum_count(per_sample, task_id, self.num_tasks)
        with torch.no_grad():
            reduced = self.all_reduce_sum(torch.stack([local_sums.detach(), local_counts]))
            sums, counts = reduced[0], reduced[1]
            present = counts > 0
            losses = sums / counts.clamp_min(1)
        share = local_sums / counts.clamp_min(1).to(local_sums.dtype) * self.world_size
        return TaskStats(share, losses, counts, present, local_sums, local_counts)

    def differentiable_reduce(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """A sum over ranks that back-propagates (``None`` in a single process), for losses that
        are non-linear in global statistics (TUR's per-task maps, UE's mean uncertainty)."""
        if self.world_size <= 1:
            return None
        import torch.distributed.nn.functional as dist_fn

        return dist_fn.all_reduce

    def task_label(self, k: int) -> str:
        """A readable name of task ``k`` for messages."""
        if self.task_names is not None and 0 <= k < len(self.task_names):
            return f"{self.task_names[k]!r} (task {k})"
        return f"task {k}"

    def warn_once(self, key: str, message: str) -> None:
        """Log ``message`` as a warning the first time ``key`` is seen by this instance."""
        if key not in self._warned:
            self._warned.add(key)
            LOG.warning("%s: %s", self.name or type(self).__name__, message)

    # ------------------------------------------------------------------ life cycle
    def attach(self, model: nn.Module) -> None:
        """Hook into ``model`` (default: nothing). Must not change the model's state_dict."""

    def detach(self) -> None:
        """Remove every hook installed by :meth:`attach`."""

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        raise NotImplementedError

    def backward(self, out: StrategyOutput, ctx: BackwardContext) -> None:
        """Back-propagate one micro-batch (default: ``ctx.scale(ctx.total / ctx.accum)``)."""
        ctx.scale(ctx.total / ctx.accum).backward()

    def finish_backward(self, params: Sequence[nn.Parameter], apply: bool) -> None:
        """After the last micro-batch's backward, before unscale/clip/step (default: nothing).

        ``apply`` is False when the step is skipped (a non-finite loss on some rank); it is the
        same on every rank, so collectives here are safe.
        """

    @torch.no_grad()
    def after_step(self, out: StrategyOutput) -> None:
        """Update running state after the optimizer step (default: nothing)."""
