"""The strategy contract: how per-task losses of one step become one scalar to optimise.

A strategy is an ``nn.Module`` so that its learnable parts (TUR's uncertainty head) are ordinary
parameters that the engine optimises (and DDP synchronises) and its state (Art's EMAs and minima)
lives in ``state_dict()`` for exact resume.

Life cycle, as the engine drives it::

    strategy.attach(model)            # register hooks (TUR taps model.uem_tap); model unchanged
    out = strategy(pred, gt, task_id) # StrategyOutput, inside the engine's forward
    out.loss.backward(); optimizer.step()
    strategy.after_step(out)          # update running state (Art), after the step
    strategy.detach()                 # remove hooks; the model is the plain backbone again

Under ``torch.distributed`` the engine sets ``strategy.all_reduce_sum`` to a function that sums a
tensor over ranks (identity otherwise) and ``strategy.world_size``; a strategy that keeps running
statistics reduces per-task sums and counts through it, so every rank computes the same weights
and state. DDP averages gradients over ranks: a strategy whose loss depends on global statistics
scales its local contribution so that the average equals the single-process loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn


@dataclass
class StrategyOutput:
    """What a strategy returns for one step.

    Attributes:
        loss: scalar to optimise (carries gradient).
        task_losses: (K,) raw per-task reconstruction loss (L1 mean over the task's samples),
            detached, 0 where the task is absent.
        weights: (K,) per-task weight the strategy applied, detached, 0 where absent.
        present: (K,) bool mask of the tasks present in the batch.
        extras: further (K,) or scalar tensors to log (e.g. mean uncertainty per task).
    """

    loss: torch.Tensor
    task_losses: torch.Tensor
    weights: torch.Tensor
    present: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


class Strategy(nn.Module):
    """Base class. Subclasses implement :meth:`forward`; the rest has working defaults."""

    #: registry name, set by subclasses
    name: str = ""

    def __init__(self, num_tasks: int) -> None:
        super().__init__()
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        self.num_tasks = num_tasks
        self.all_reduce_sum: Callable[[torch.Tensor], torch.Tensor] = _identity
        self.world_size = 1

    def attach(self, model: nn.Module) -> None:
        """Hook into ``model`` (default: nothing). Must not change the model's state_dict."""

    def detach(self) -> None:
        """Remove every hook installed by :meth:`attach`."""

    def forward(  # type: ignore[override]
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        raise NotImplementedError

    @torch.no_grad()
    def after_step(self, out: StrategyOutput) -> None:
        """Update running state after the optimizer step (default: nothing)."""
