"""``mixed``: plain mixed training, the baseline every task-aware strategy is compared with.

The loss is the pixel loss (L1 by default, option ``loss``) over every value of the batch, as
all-in-one methods train by default. Since all samples have the same size, this equals
``sum_k (n_k / B) * L_k``: each present task is
weighted by its share of the batch's samples, which is what ``weights`` reports. Under DDP the
reported per-task losses and shares are those of the global batch (sums and counts all-reduced);
the optimised loss needs no reduction: DDP's gradient average of equal-sized rank batches is the
gradient of the global mean.

>>> import torch
>>> s = MixedStrategy(num_tasks=2)
>>> out = s(torch.zeros(4, 3, 2, 2), torch.ones(4, 3, 2, 2), torch.tensor([0, 0, 0, 1]))
>>> float(out.loss), out.weights.tolist()
(1.0, [0.75, 0.25])
"""

from __future__ import annotations

import torch

from aioir.strategies import STRATEGIES
from aioir.strategies.base import Strategy, StrategyOutput
from aioir.strategies.functional import per_task_sum_count


@STRATEGIES.register("mixed")
class MixedStrategy(Strategy):
    """Pixel loss over the whole batch; reports per-task means and each task's share of samples.

    Args:
        num_tasks: K.
        loss, charbonnier_eps: the pixel loss (see :class:`~aioir.strategies.base.Strategy`).
    """

    name = "mixed"

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        per_sample = self.per_sample(pred, gt)
        loss = per_sample.mean()
        with torch.no_grad():
            sums, counts = per_task_sum_count(per_sample.detach(), task_id, self.num_tasks)
            sums, counts = self.all_reduce_sum(torch.stack([sums, counts]))
            present = counts > 0
            task_losses = sums / counts.clamp_min(1)
            weights = counts / counts.sum().clamp_min(1)
        return StrategyOutput(loss, task_losses, weights, present)
