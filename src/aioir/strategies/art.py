"""``art``: active reweighting of the per-task losses (Art, ACM MM 2024).

``L = sum_t alpha_t L_t`` (Art Eq. 2) with ``alpha`` from
:func:`~aioir.strategies.functional.art_weights`
(local convergence rate against an EMA of the loss, log-transformed global correction against the
historical minimum, softmax with temperature ``tau``). The EMA ``L~`` and the minimum ``L_min``
are persistent buffers, so they are saved with the strategy and a resumed run continues exactly.

Ablation switches (the paper's Table 1): ``lcr`` = ``"smoothed"`` (Eq. 5, default), ``"raw"``
(Eq. 4, ``L_t / L_t^{prev}``: the EMA with weight 1 on the newest loss, so the buffer holds the
previous loss) or ``"none"``; ``gcw`` = ``"log"`` (default), ``"raw"`` (Eq. 7, ``L_t / L_min``) or
``"none"``.

The log guard: when a task's loss reaches 1 (``log10(L) -> 0``) the log-transformed correction
gives that task (almost) all the weight. The strategy warns once per run naming the task, and
counts the steps where it happened in ``extras["clamped"]`` (per task, cumulative over the run,
saved with the state).

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

from typing import Any

import torch

from aioir.strategies import STRATEGIES
from aioir.strategies.base import Strategy, StrategyOutput
from aioir.strategies.functional import ART_GCW, CHARBONNIER_EPS, art_clamped, art_weights

#: local convergence rate forms (option ``lcr``)
ART_LCR = ("smoothed", "raw", "none")


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
        lcr: ``"smoothed"`` (Eq. 5), ``"raw"`` (Eq. 4) or ``"none"``.
        gcw: ``"log"`` (log-transformed Eq. 7), ``"raw"`` (Eq. 7) or ``"none"``.
        loss, charbonnier_eps: the pixel loss ``rho`` (``l1`` default).
    """

    ema: torch.Tensor
    min: torch.Tensor
    clamped: torch.Tensor

    name = "art"

    def __init__(
        self,
        num_tasks: int,
        tau: float = 3.0,
        ema_weight: float = 0.01,
        init: float = 0.1,
        lcr: str = "smoothed",
        gcw: str = "log",
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if not 0.0 <= ema_weight <= 1.0:
            raise ValueError(f"ema_weight must lie in [0, 1], got {ema_weight}")
        if init <= 0:
            raise ValueError(f"init must be > 0, got {init}")
        if lcr not in ART_LCR:
            raise ValueError(f"lcr must be one of {ART_LCR}, got {lcr!r}")
        if gcw not in ART_GCW:
            raise ValueError(f"gcw must be one of {ART_GCW}, got {gcw!r}")
        self.tau = float(tau)
        self.lcr = lcr
        self.gcw = gcw
        # the raw rate divides by the previous loss: an "EMA" that keeps only the newest loss
        self.ema_weight = 1.0 if lcr == "raw" else float(ema_weight)
        self.register_buffer("ema", torch.full((num_tasks,), float(init)))
        self.register_buffer("min", torch.full((num_tasks,), float(init)))
        self.register_buffer("clamped", torch.zeros(num_tasks))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # checkpoints written before the clamp counter existed: start it at 0
        key = prefix + "clamped"
        if prefix + "ema" in state_dict and key not in state_dict:
            state_dict[key] = torch.zeros_like(self.clamped)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        stats = self.task_statistics(self.per_sample(pred, gt), task_id)
        with torch.no_grad():
            weights = art_weights(stats.losses, self.ema, self.min, self.tau, stats.present,
                                  lcr=self.lcr != "none", gcw=self.gcw)
            hit = art_clamped(stats.losses, stats.present) if self.gcw == "log" else None
            if hit is not None and bool(hit.any()):
                for k in hit.nonzero().flatten().tolist():
                    self.warn_once(
                        f"clamp{k}",
                        f"the loss of {self.task_label(k)} reached 1 "
                        f"({float(stats.losses[k]):.4g}): log10(L) -> 0 and the log global "
                        "correction gives it (almost) all the weight; counted in the "
                        "'clamped' extra. Check the data range / the pixel loss.",
                    )
            count = self.clamped + hit.to(self.clamped) if hit is not None else self.clamped
        loss = (weights.to(stats.share.dtype) * stats.share).sum()
        out = StrategyOutput(loss, stats.losses, weights, stats.present,
                             {"clamped": count.clone()})
        return out

    @torch.no_grad()
    def after_step(self, out: StrategyOutput) -> None:
        """Eq. 6 EMA and running minimum, for the tasks present in the (all-reduced) batch."""
        present = out.present.to(self.ema.device)
        losses = out.task_losses.detach().to(self.ema)
        a = self.ema_weight
        self.ema.copy_(torch.where(present, a * losses + (1 - a) * self.ema, self.ema))
        self.min.copy_(torch.where(present, torch.minimum(self.min, losses), self.min))
        if "clamped" in out.extras:  # one count per optimizer step that hit the guard
            hit = out.extras["clamped"].to(self.clamped) > self.clamped
            self.clamped.add_(hit.to(self.clamped))
