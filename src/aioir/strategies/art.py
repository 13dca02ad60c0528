"""``art``: active reweighting of the per-task L1 losses (Art, ACM MM 2024).

``L = sum_t alpha_t L_t`` (Art Eq. 2) with ``alpha`` from
:func:`~aioir.strategies.functional.art_weights`
(local convergence rate against an EMA of the loss, log-transformed global correction against the
historical minimum, softmax with temperature ``tau``). The EMA ``L~`` and the minimum ``L_min``
are persistent buffers, so they are saved with the strategy and a resumed run continues exactly.

Distributed runs: the per-task sums and sample counts go through ``self.all_reduce_sum`` before
the weights and the running state are computed, so every rank sees the same global per-task
losses, weights and state. The loss that is back-propagated divides each rank's local task sums
by the *global* task counts, times the world size: DDP averages gradients over ranks, so the
update equals the single-process update on the global batch, ``sum_t w_t L_t`` exactly (up to
floating-point summation order).

>>> import torch
>>> s = ArtStrategy(num_tasks=2)
>>> out = s(torch.zeros(2, 3, 2, 2), torch.full((2, 3, 2, 2), 0.1), torch.tensor([0, 1]))
>>> [round(w, 3) for w in out.weights.tolist()], round(float(out.loss), 4)
([0.5, 0.5], 0.1)
>>> s.after_step(out); [round(v, 6) for v in s.ema.tolist()]
[0.1, 0.1]
"""

from __future__ import annotations

import torch

from aioir.strategies import STRATEGIES
from aioir.strategies.base import Strategy, StrategyOutput
from aioir.strategies.functional import art_weights, per_sample_l1, per_task_sum_count


@STRATEGIES.register("art")
class ArtStrategy(Strategy):
    """Art's active reweighting.

    Args:
        num_tasks: K.
        tau: softmax temperature (Eq. 8). Default 3, the paper's best (Table 5); the authors'
            released code used 0.1, which the paper reports as oscillating (29.59 vs 30.05 dB).
        ema_weight: weight of the newest loss in the EMA, ``L~ <- a L + (1 - a) L~`` (the
            authors' code uses 0.01; the paper's Eq. 6 writes the complementary ``beta``).
        init: initial value of both the EMA and the running minimum (0.1 as in the code).
    """

    name = "art"

    def __init__(
        self, num_tasks: int, tau: float = 3.0, ema_weight: float = 0.01, init: float = 0.1
    ) -> None:
        super().__init__(num_tasks)
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if not 0.0 <= ema_weight <= 1.0:
            raise ValueError(f"ema_weight must lie in [0, 1], got {ema_weight}")
        if init <= 0:
            raise ValueError(f"init must be > 0, got {init}")
        self.tau = float(tau)
        self.ema_weight = float(ema_weight)
        self.register_buffer("ema", torch.full((num_tasks,), float(init)))
        self.register_buffer("min", torch.full((num_tasks,), float(init)))

    def forward(  # type: ignore[override]
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        per_sample = per_sample_l1(pred, gt)
        local_sums, local_counts = per_task_sum_count(per_sample, task_id, self.num_tasks)
        with torch.no_grad():
            reduced = self.all_reduce_sum(torch.stack([local_sums.detach(), local_counts]))
            sums, counts = reduced[0], reduced[1]
            present = counts > 0
            task_losses = sums / counts.clamp_min(1)
            weights = art_weights(task_losses, self.ema, self.min, self.tau, present)
        # local sums over global counts (x world size, undone by DDP's gradient averaging)
        share = local_sums / counts.clamp_min(1).to(local_sums.dtype)
        loss = (weights.to(share.dtype) * share).sum() * self.world_size
        return StrategyOutput(loss, task_losses, weights, present)

    @torch.no_grad()
    def after_step(self, out: StrategyOutput) -> None:
        """Eq. 6 EMA and running minimum, for the tasks present in the (all-reduced) batch."""
        present = out.present.to(self.ema.device)
        losses = out.task_losses.detach().to(self.ema)
        a = self.ema_weight
        self.ema.copy_(torch.where(present, a * losses + (1 - a) * self.ema, self.ema))
        self.min.copy_(torch.where(present, torch.minimum(self.min, losses), self.min))
