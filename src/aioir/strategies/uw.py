"""``uw``: uncertainty weighting (Kendall, Gal and Cipolla, "Multi-Task Learning Using
Uncertainty to Weigh Losses for Scene Geometry and Semantics", CVPR 2018).

Each task has a learnable log-variance ``s_k = log sigma_k^2`` (a parameter of the strategy,
optimised by the engine's optimizer with the network) and the homoscedastic-uncertainty loss of
the paper's regression form (Eq. 7, with ``L_k`` the task's pixel loss):

``loss = (1 / n_present) sum_{k present} [ 1/2 exp(-s_k) L_k + 1/2 s_k ]``

The paper sums over the tasks; aioir divides by the number of present tasks (the scale of a
mean, as every aioir strategy; under Adam a constant factor does not change the update). Absent
tasks contribute nothing, so their ``s_k`` is not pushed by the ``1/2 s_k`` term. ``s`` starts
at ``init`` (0: ``sigma = 1``, equal weights). Unlike TUR (an uncertainty map per pixel predicted
from the input), this is one scalar per task.

Reported ``weights``: ``exp(-s_k)`` normalised over the present tasks; ``extras["log_var"]``: s.

>>> import torch
>>> s = UWStrategy(num_tasks=2)
>>> out = s(torch.zeros(2, 3, 2, 2), torch.full((2, 3, 2, 2), 0.2), torch.tensor([0, 1]))
>>> round(out.loss.item(), 4), out.weights.tolist()   # 1/2 * 0.2 + 1/2 * 0
(0.1, [0.5, 0.5])
"""

from __future__ import annotations

import torch
import torch.nn as nn

from aioir.strategies import STRATEGIES
from aioir.strategies.base import Strategy, StrategyOutput
from aioir.strategies.functional import CHARBONNIER_EPS, normalise_present


@STRATEGIES.register("uw")
class UWStrategy(Strategy):
    """Kendall et al.'s uncertainty weighting with learnable log-variances.

    Args:
        num_tasks: K.
        init: initial log-variance ``s_k`` (0).
        loss, charbonnier_eps: the pixel loss ``rho``.
    """

    name = "uw"

    def __init__(
        self,
        num_tasks: int,
        init: float = 0.0,
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        self.log_var = nn.Parameter(torch.full((num_tasks,), float(init)))

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        stats = self.task_statistics(self.per_sample(pred, gt), task_id)
        s = self.log_var.to(stats.share.dtype)
        kp = stats.present.sum().clamp_min(1).to(s)
        terms = 0.5 * torch.exp(-s) * stats.share + 0.5 * s
        loss = torch.where(stats.present, terms, torch.zeros_like(terms)).sum() / kp
        with torch.no_grad():
            weights = normalise_present(torch.exp(-s.detach()), stats.present)
        return StrategyOutput(loss, stats.losses, weights, stats.present,
                              {"log_var": s.detach().clone()})
