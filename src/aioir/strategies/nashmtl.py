"""``nashmtl``: multi-task learning as a bargaining game (Navon et al., ICML 2022).

The update ``d = sum_k alpha_k g_k`` (``g_k`` the per-task gradients of the shared parameters)
is the Nash bargaining solution: ``alpha > 0`` solves ``alpha_k (G G^T alpha)_k = 1`` (Eq. 2),
i.e. every task's directional improvement ``g_k . d`` equals ``1 / alpha_k``, the system the
official code and LibMTL solve (their CVXPY problem normalises the Gram matrix by its Frobenius
norm for conditioning only): ``|d| = sqrt(K)`` whatever the gradients' scale. ``alpha`` comes
from a damped Newton solver on the equivalent convex problem, warm-started from the previous
step's solution (:func:`~aioir.strategies.gram.nash_coefficients`; the official code solves a
sequence of CVXPY problems: aioir has no solver dependency), for the true (unscaled) gradients:
the Gram matrix of a loss-scaled step is divided by the scale squared first. The official
``max_norm`` (1.0) clips the norm of ``d`` on the shared parameters (in true, unscaled units);
``0`` disables it. The official ``update_weights_every`` option (reuse ``alpha`` for several
steps) is not offered: ``alpha`` is computed every step (its default).

Reported ``weights``: ``alpha`` (after the clip) normalised to sum 1; the raw solution is the
``alpha`` buffer.

>>> s = NashMTLStrategy(num_tasks=3)
>>> s.max_norm, s.alpha.tolist()
(1.0, [1.0, 1.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from aioir.strategies import STRATEGIES
from aioir.strategies.base import BackwardContext, StrategyOutput
from aioir.strategies.functional import CHARBONNIER_EPS
from aioir.strategies.gradient import GradientStrategy
from aioir.strategies.gram import nash_coefficients


@STRATEGIES.register("nashmtl")
class NashMTLStrategy(GradientStrategy):
    """Nash-MTL on the shared parameters.

    Args:
        num_tasks: K.
        max_norm: clip the combined update of the shared parameters to this norm (1.0, as the
            official code; 0 disables).
        loss, charbonnier_eps: the pixel loss ``rho``.

    State: ``alpha`` (K,), the last solution per task (warm start), saved for exact resume.
    """

    alpha: torch.Tensor

    name = "nashmtl"

    def __init__(
        self,
        num_tasks: int,
        max_norm: float = 1.0,
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        if max_norm < 0:
            raise ValueError(f"max_norm must be >= 0, got {max_norm}")
        self.max_norm = float(max_norm)
        self.register_buffer("alpha", torch.ones(num_tasks, dtype=torch.float64))
        self._grad_scale = 1.0
        self._last: torch.Tensor | None = None

    def backward(self, out: StrategyOutput, ctx: BackwardContext) -> None:
        one = torch.ones((), device=out.loss.device)
        self._grad_scale = float(ctx.scale(one))
        super().backward(out, ctx)

    def combine(self, gram: torch.Tensor, tasks: list[int]) -> torch.Tensor:
        start = self.alpha.detach().cpu()[tasks]
        # alpha of the true gradients (g / scale); d = sum alpha g_scaled is then the true
        # update times the loss scale, as the engine's unscaling expects
        alpha = nash_coefficients(gram / self._grad_scale**2, start=start)
        self._last = torch.zeros(self.num_tasks, dtype=torch.float64)
        self._last[tasks] = alpha
        if self.max_norm > 0:
            # |d| = sqrt(alpha^T A alpha), in the loss-scaled units of the gradients
            norm = float(torch.sqrt((alpha @ gram @ alpha).clamp_min(0))) / self._grad_scale
            if norm > self.max_norm:
                alpha = alpha * (self.max_norm / (norm + 1e-6))
        return alpha

    def finish_backward(self, params: Sequence[nn.Parameter], apply: bool) -> None:
        super().finish_backward(params, apply)
        if not apply:
            self._last = None

    @torch.no_grad()
    def after_step(self, out: StrategyOutput) -> None:
        """Keep this step's solution (present tasks) as the next warm start."""
        if self._last is not None:
            last = self._last.to(self.alpha)
            self.alpha.copy_(torch.where(last > 0, last, self.alpha))
            self._last = None
