"""``cagrad``: conflict-averse gradient descent (Liu et al., NeurIPS 2021).

With the per-task gradients ``g_k`` of the shared parameters and ``g0`` their mean, CAGrad moves
along ``d = g0 + sqrt(phi) / |g_w| g_w``, ``phi = c^2 |g0|^2``, where ``g_w = sum w_k g_k`` with
``w`` on the simplex minimising ``g_w . g0 + sqrt(phi) |g_w|`` (the dual of "maximise the worst
task's improvement within a ball of radius ``c |g0|`` around ``g0``"), then rescales by
``1 / (1 + c^2)`` as the official code's default (``rescale``). The simplex problem is solved on
the Gram matrix (:func:`~aioir.strategies.gram.cagrad_coefficients`; the official code uses SciPy
SLSQP, aioir a projected-gradient solver tested against it). ``c = 0`` is plain mean-gradient
descent.

>>> import torch
>>> s = CAGradStrategy(num_tasks=2, c=0.4)
>>> s.c, s.rescale
(0.4, 1)
"""

from __future__ import annotations

import torch

from aioir.strategies import STRATEGIES
from aioir.strategies.functional import CHARBONNIER_EPS
from aioir.strategies.gradient import GradientStrategy
from aioir.strategies.gram import cagrad_coefficients


@STRATEGIES.register("cagrad")
class CAGradStrategy(GradientStrategy):
    """CAGrad on the shared parameters.

    Args:
        num_tasks: K.
        c: radius of the conflict-averse ball relative to ``|g0|`` (0.4, the paper's NYU-v2 and
            Cityscapes setting and the official default).
        rescale: 0 none, 1 ``/ (1 + c^2)`` (official default), 2 ``/ (1 + c)``.
        loss, charbonnier_eps: the pixel loss ``rho``.
    """

    name = "cagrad"

    def __init__(
        self,
        num_tasks: int,
        c: float = 0.4,
        rescale: int = 1,
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        if c < 0:
            raise ValueError(f"c must be >= 0, got {c}")
        if rescale not in (0, 1, 2):
            raise ValueError(f"rescale must be 0, 1 or 2, got {rescale}")
        self.c = float(c)
        self.rescale = int(rescale)

    def combine(self, gram: torch.Tensor, tasks: list[int]) -> torch.Tensor:
        return cagrad_coefficients(gram, self.c, self.rescale)
