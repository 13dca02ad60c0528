"""``ue``: vanilla uncertainty estimation, the ungrouped ablation of TUR (TUR paper, Table 6).

The same training-only head as ``tur`` (:class:`~aioir.strategies.uem.UncertaintyHead`) on the
same tap, but each sample keeps its own per-pixel map and the whole batch is one group
(:func:`~aioir.strategies.functional.ue_loss`):
``loss = mean(rho(pred - gt) / U) + log_weight * log(mean U)``, ``U = map + eps``, ``rho`` the
pixel loss (``|e|`` by default).

Reported ``weights``: the effective weight of each present task's error in that loss,
``(n_k / B) * mean over the task's samples and pixels of 1 / U``, normalised to sum to 1 over the
present tasks. ``extras["uncertainty"]`` is each task's mean UEM value.

>>> import torch
>>> from aioir import models
>>> _ = torch.manual_seed(0)
>>> net, s = models.build("tiny_unet", width=8), UEStrategy(num_tasks=2)
>>> s.attach(net)
>>> x = torch.rand(3, 3, 8, 8)
>>> out = s(net(x), x, torch.tensor([0, 0, 1]))
>>> round(float(out.weights.sum()), 5), bool(torch.isfinite(out.loss))
(1.0, True)
>>> s.detach()
"""

from __future__ import annotations

import torch

from aioir.strategies import STRATEGIES
from aioir.strategies.base import StrategyOutput
from aioir.strategies.functional import (
    CHARBONNIER_EPS,
    normalise_present,
    per_task_sum_count,
    ue_loss,
)
from aioir.strategies.uem import UncertaintyStrategy


@STRATEGIES.register("ue")
class UEStrategy(UncertaintyStrategy):
    """Ungrouped per-sample uncertainty (the "UE" ablation).

    Args:
        num_tasks: K (used for the per-task reports only).
        log_weight: weight of the log regulariser (2, as in ``tur``).
        eps: added to the map (1e-6).
        head_init: the head's initialisation, ``"torch"`` or ``"kaiming"`` (see ``uem``).
        loss, charbonnier_eps: the pixel loss ``rho``.
        head_start: ``"init"`` (default) or ``"error"`` (see :mod:`aioir.strategies.uem`).
    """

    name = "ue"

    def __init__(
        self,
        num_tasks: int,
        log_weight: float = 2.0,
        eps: float = 1e-6,
        head_init: str = "torch",
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
        head_start: str = "init",
    ) -> None:
        super().__init__(num_tasks, head_init=head_init, loss=loss,
                         charbonnier_eps=charbonnier_eps, head_start=head_start)
        self.log_weight = float(log_weight)
        self.eps = float(eps)

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        u = self.uncertainty(pred, gt)
        loss = ue_loss(pred, gt, u, self.log_weight, self.eps, self.pixel_loss,
                       self.charbonnier_eps, self.differentiable_reduce(), self.world_size)
        with torch.no_grad():
            k = self.num_tasks
            ud = u.detach().float()
            rho = self.per_sample(pred, gt).detach()
            u_mean = ud.flatten(1).mean(1)
            inv_mean = (1.0 / (ud + self.eps)).flatten(1).mean(1)
            sums = torch.stack([per_task_sum_count(v, task_id, k)[0] for v in (rho, u_mean,
                                                                                inv_mean)])
            counts = per_task_sum_count(rho, task_id, k)[1]
            reduced = self.all_reduce_sum(torch.cat([sums, counts.unsqueeze(0)]))
            l1_sums, u_sums, inv_sums, counts = reduced
            present = counts > 0
            denom = counts.clamp_min(1)
            # (n_k / B) * mean_k(1/U) = inv_sums / B; normalising removes the common 1/B
            weights = normalise_present(inv_sums, present)
        return StrategyOutput(
            loss, l1_sums / denom, weights, present, {"uncertainty": u_sums / denom}
        )
