"""``imtl``: impartial multi-task learning (Liu et al., "Towards Impartial Multi-task Learning",
ICLR 2021).

* **IMTL-L** (loss balance): learnable log-scales ``s_k``; each task's loss becomes
  ``e^{s_k} L_k - s_k``, whose minimum over ``s_k`` is at ``e^{s_k} L_k = 1``: the scaled losses
  are driven to the same value. The strategy's own ``s`` (a parameter, optimised by the engine's
  optimizer like the network) starts at 0.
* **IMTL-G** (gradient balance): the update ``d = sum alpha_k g_k`` with ``sum alpha_k = 1`` whose
  projections onto every task's unit gradient are equal (closed form,
  :func:`~aioir.strategies.gram.imtl_g_coefficients`).
* **hybrid** (the paper's IMTL, default): IMTL-G on the gradients of the scaled losses
  ``e^{s_k} L_k``; ``s`` learns from ``sum_k (e^{s_k} L_k - s_k)`` only.

``mode="l"`` is a plain loss weighting (``loss = mean over present tasks of e^{s_k} L_k - s_k``,
one backward); ``"g"`` and ``"hybrid"`` own the backward pass
(:class:`~aioir.strategies.gradient.GradientStrategy`). The paper sums over tasks; aioir takes the
mean over the present tasks (the scale of every other strategy; a constant factor, under Adam the
same update).

Reported ``weights``: the coefficients of the raw task gradients, ``alpha_k e^{s_k}`` (hybrid),
``alpha_k`` (g) or ``e^{s_k}`` (l), normalised to sum 1.

>>> import torch
>>> s = IMTLStrategy(num_tasks=2, mode="l")
>>> out = s(torch.zeros(2, 3, 2, 2), torch.full((2, 3, 2, 2), 0.1), torch.tensor([0, 1]))
>>> round(out.loss.item(), 4), out.weights.tolist()   # s = 0: mean of (L_k - 0)
(0.1, [0.5, 0.5])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from aioir.strategies import STRATEGIES
from aioir.strategies.base import BackwardContext, Strategy, StrategyOutput, TaskStats
from aioir.strategies.functional import CHARBONNIER_EPS, normalise_present
from aioir.strategies.gradient import GradientStrategy
from aioir.strategies.gram import imtl_g_coefficients

MODES = ("hybrid", "g", "l")


@STRATEGIES.register("imtl")
class IMTLStrategy(GradientStrategy):
    """IMTL (hybrid, IMTL-G or IMTL-L).

    Args:
        num_tasks: K.
        mode: ``"hybrid"`` (default, the paper's IMTL), ``"g"`` (IMTL-G) or ``"l"`` (IMTL-L).
        loss, charbonnier_eps: the pixel loss ``rho``.
    """

    name = "imtl"

    def __init__(
        self,
        num_tasks: int,
        mode: str = "hybrid",
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.reduces_gradients = mode != "l"
        self.log_scale = nn.Parameter(torch.zeros(num_tasks)) if mode != "g" else None

    def _scales(self) -> torch.Tensor:
        assert self.log_scale is not None
        return self.log_scale.detach().exp()

    def task_terms(self, stats: TaskStats) -> torch.Tensor:
        if self.mode == "hybrid":
            return self._scales().to(stats.local_sums) * stats.local_sums
        return stats.local_sums

    def output(self, stats: TaskStats) -> StrategyOutput:
        if self.mode == "g":
            return super().output(stats)
        assert self.log_scale is not None
        kp = stats.present.sum().clamp_min(1).to(stats.share.dtype)
        s = self.log_scale.to(stats.share.dtype)
        present = stats.present
        zero = torch.zeros_like(s)
        if self.mode == "l":
            loss = torch.where(present, s.exp() * stats.share - s, zero).sum() / kp
            weights = normalise_present(s.detach().exp(), present)
            return StrategyOutput(loss, stats.losses, weights, present)
        # hybrid: the network's gradient comes from IMTL-G; s learns from its own term, with the
        # (global, detached) task losses
        out = super().output(stats)
        out.plain_loss = torch.where(present, s.exp() * stats.losses.to(s) - s, zero).sum() / kp
        return out

    def backward(self, out: StrategyOutput, ctx: BackwardContext) -> None:
        if self.mode == "l":
            Strategy.backward(self, out, ctx)
        else:
            super().backward(out, ctx)

    def finish_backward(self, params: Sequence[nn.Parameter], apply: bool) -> None:
        if self.mode != "l":
            super().finish_backward(params, apply)

    def combine(self, gram: torch.Tensor, tasks: list[int]) -> torch.Tensor:
        return imtl_g_coefficients(gram)

    def report_weights(self, coeffs: torch.Tensor, tasks: list[int]) -> torch.Tensor:
        if self.mode == "hybrid":
            coeffs = coeffs * self._scales().double().cpu()[tasks]
        return super().report_weights(coeffs, tasks)
