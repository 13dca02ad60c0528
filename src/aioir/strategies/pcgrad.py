"""``pcgrad``: projecting conflicting gradients (Yu et al., "Gradient Surgery for Multi-Task
Learning", NeurIPS 2020).

For each present task ``i`` (the per-task gradients ``g_k`` of the shared parameters, see
:class:`~aioir.strategies.gradient.GradientStrategy`), in a random order of the other tasks:
whenever ``g_i^PC . g_j < 0``, remove the conflicting component,
``g_i^PC <- g_i^PC - (g_i^PC . g_j) / |g_j|^2 g_j``; the update is ``sum_i g_i^PC``
(:func:`~aioir.strategies.gram.pcgrad_coefficients`), divided by the number of present tasks with
``reduction="mean"`` (default here, so that an update without conflicts is the mean task
gradient, the scale of every other aioir strategy; ``"sum"`` is the paper's Algorithm 1).

The random orders come from a generator seeded with ``(seed, step)``, ``step`` being a persistent
buffer: every DDP rank draws the same orders and a resumed run continues exactly.

Reported ``weights``: the coefficients of the original task gradients in the update, normalised.

>>> import torch
>>> s = PCGradStrategy(num_tasks=2)
>>> out = s(torch.zeros(2, 3, 2, 2), torch.full((2, 3, 2, 2), 0.1), torch.tensor([0, 1]))
>>> out.task_terms.shape, out.task_counts.tolist()
(torch.Size([2]), [1.0, 1.0])
"""

from __future__ import annotations

import torch

from aioir.strategies import STRATEGIES
from aioir.strategies.base import StrategyOutput
from aioir.strategies.functional import CHARBONNIER_EPS
from aioir.strategies.gradient import GradientStrategy
from aioir.strategies.gram import pcgrad_coefficients

REDUCTIONS = ("mean", "sum")


def step_generator(seed: int, step: int) -> torch.Generator:
    """A CPU generator for one optimizer step, the same on every rank and after a resume."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) % (2**63 - 1))


@STRATEGIES.register("pcgrad")
class PCGradStrategy(GradientStrategy):
    """PCGrad on the shared parameters.

    Args:
        num_tasks: K.
        reduction: ``"mean"`` (default) or ``"sum"`` (the paper) of the projected gradients.
        seed: seed of the random task orders.
        loss, charbonnier_eps: the pixel loss ``rho``.
    """

    step: torch.Tensor

    name = "pcgrad"

    def __init__(
        self,
        num_tasks: int,
        reduction: str = "mean",
        seed: int = 0,
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self.seed = int(seed)
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))

    def combine(self, gram: torch.Tensor, tasks: list[int]) -> torch.Tensor:
        n = len(tasks)
        gen = step_generator(self.seed, int(self.step))
        orders = [torch.randperm(n, generator=gen).tolist() for _ in range(n)]
        coeffs = pcgrad_coefficients(gram, orders)
        return coeffs / n if self.reduction == "mean" else coeffs

    @torch.no_grad()
    def after_step(self, out: StrategyOutput) -> None:
        self.step += 1
