"""``rlw``: random loss weighting (Lin et al., "Reasonable Effectiveness of Random Weighting: A
Litmus Test for Multi-Task Learning", TMLR 2022).

Every optimizer step draws ``z ~ N(0, I)`` and weights the present tasks by
``lambda = softmax(z)`` over them: ``loss = sum_k lambda_k L_k`` (the weights sum to 1, the scale
of a mean). The paper's recommended (and LibMTL's default) distribution is the standard normal
through a softmax.

The draw comes from a generator seeded with ``(seed, step)``, ``step`` being a persistent buffer
advanced after every optimizer step: every DDP rank draws the same weights, the micro-batches of
one accumulated step share them, and a resumed run continues exactly.

>>> import torch
>>> s = RLWStrategy(num_tasks=3)
>>> out = s(torch.zeros(2, 3, 2, 2), torch.full((2, 3, 2, 2), 0.1), torch.tensor([0, 2]))
>>> round(float(out.weights.sum()), 6), out.weights[1].item()
(1.0, 0.0)
"""

from __future__ import annotations

import torch

from aioir.strategies import STRATEGIES
from aioir.strategies.base import Strategy, StrategyOutput
from aioir.strategies.functional import CHARBONNIER_EPS
from aioir.strategies.pcgrad import step_generator


def rlw_weights(z: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """``softmax(z)`` over the present tasks, 0 for absent ones.

    >>> import torch
    >>> rlw_weights(torch.tensor([0.0, 5.0, 0.0]), torch.tensor([True, False, True])).tolist()
    [0.5, 0.0, 0.5]
    """
    score = torch.where(present, z, torch.full_like(z, -torch.inf))
    if not bool(present.any()):
        return torch.zeros_like(z)
    return torch.softmax(score, 0).where(present, torch.zeros_like(z))


@STRATEGIES.register("rlw")
class RLWStrategy(Strategy):
    """Random loss weighting, ``softmax(N(0, I))`` per step.

    Args:
        num_tasks: K.
        seed: seed of the weight draws.
        loss, charbonnier_eps: the pixel loss ``rho``.
    """

    step: torch.Tensor

    name = "rlw"

    def __init__(
        self, num_tasks: int, seed: int = 0, loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        self.seed = int(seed)
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))

    def draw(self) -> torch.Tensor:
        """This step's ``z`` (K,), before the softmax."""
        return torch.randn(self.num_tasks, generator=step_generator(self.seed, int(self.step)),
                           dtype=torch.float64)

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        stats = self.task_statistics(self.per_sample(pred, gt), task_id)
        with torch.no_grad():
            present = stats.present.cpu()
            weights = rlw_weights(self.draw(), present).to(stats.share)
        loss = (weights * stats.share).sum()
        return StrategyOutput(loss, stats.losses, weights, stats.present)

    @torch.no_grad()
    def after_step(self, out: StrategyOutput) -> None:
        self.step += 1
