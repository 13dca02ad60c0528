"""``dwa``: dynamic weight average (Liu, Johns and Davison, "End-to-End Multi-Task Learning with
Attention", CVPR 2019, Eq. 7).

``w_k = L_k(t-1) / L_k(t-2)`` is each task's rate of loss change and
``lambda_k = K exp(w_k / T) / sum_i exp(w_i / T)``; ``loss = (1/K) sum_k lambda_k L_k``
(``(task_weights * losses).mean()`` as the Nash-MTL/FAMO codebase's iteration-level DWA; the
paper's ``sum`` is ``K`` times that). ``L(t)`` is the paper's epoch-average loss; aioir, which
counts steps, averages over windows of ``window`` optimizer steps (the iteration-level DWA of the
Nash-MTL codebase, window 25): ``L(t-1)`` is the mean of each task's losses over the last
``window`` steps, ``L(t-2)`` over the ``window`` steps before. Set ``window`` to the number of
steps of one epoch for the paper's version. Until ``2 * window`` steps are seen, and for a task
with no sample in either window, ``w_k = 1`` (equal weights). Over the tasks present in the
batch, ``lambda`` is normalised to the number of present tasks (so the reported ``weights``,
``lambda_k / n_present``, sum to 1).

State (persistent buffers, exact resume): ``hist_sum``/``hist_count`` (2 * window, K), a ring of
each step's per-task loss (global under DDP; 0 where absent) and presence (1/0), and ``seen``
(steps so far).

>>> import torch
>>> s = DWAStrategy(num_tasks=2, window=1)
>>> out = s(torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.5), torch.tensor([0]))
>>> out.weights.tolist()
[1.0, 0.0]
"""

from __future__ import annotations

import torch

from aioir.strategies import STRATEGIES
from aioir.strategies.base import Strategy, StrategyOutput
from aioir.strategies.functional import CHARBONNIER_EPS


def dwa_weights(rates: torch.Tensor, temperature: float, present: torch.Tensor) -> torch.Tensor:
    """``softmax(w / T)`` over the present tasks (``lambda_k / n_present`` of Eq. 7), 0 elsewhere.

    >>> import torch
    >>> w = dwa_weights(torch.tensor([1.0, 1.0]), 2.0, torch.tensor([True, True]))
    >>> w.tolist()
    [0.5, 0.5]
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    score = torch.where(present, rates / temperature, torch.full_like(rates, -torch.inf))
    if not bool(present.any()):
        return torch.zeros_like(rates)
    return torch.softmax(score, 0).where(present, torch.zeros_like(rates))


@STRATEGIES.register("dwa")
class DWAStrategy(Strategy):
    """Dynamic weight average.

    Args:
        num_tasks: K.
        temperature: ``T`` (2, the paper's).
        window: steps per averaging window (25; one epoch's steps for the paper's version).
        loss, charbonnier_eps: the pixel loss ``rho``.
    """

    hist_sum: torch.Tensor
    hist_count: torch.Tensor
    seen: torch.Tensor

    name = "dwa"

    def __init__(
        self,
        num_tasks: int,
        temperature: float = 2.0,
        window: int = 25,
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.temperature = float(temperature)
        self.window = int(window)
        self.register_buffer("hist_sum", torch.zeros(2 * window, num_tasks, dtype=torch.float64))
        self.register_buffer("hist_count", torch.zeros(2 * window, num_tasks,
                                                       dtype=torch.float64))
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))

    def rates(self) -> torch.Tensor:
        """``w_k = L_k(t-1) / L_k(t-2)`` from the window ring; 1 where undefined."""
        ones = torch.ones(self.num_tasks, dtype=torch.float64, device=self.hist_sum.device)
        if int(self.seen) < 2 * self.window:
            return ones
        n = 2 * self.window
        start = int(self.seen) % n  # the oldest entry of the ring
        order = [(start + i) % n for i in range(n)]
        s, c = self.hist_sum[order], self.hist_count[order]
        old_s, old_c = s[: self.window].sum(0), c[: self.window].sum(0)
        new_s, new_c = s[self.window :].sum(0), c[self.window :].sum(0)
        ok = (old_c > 0) & (new_c > 0) & (old_s > 0)
        ratio = (new_s / new_c.clamp_min(1)) / (old_s / old_c.clamp_min(1)).clamp_min(1e-300)
        return torch.where(ok, ratio, ones)

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        stats = self.task_statistics(self.per_sample(pred, gt), task_id)
        with torch.no_grad():
            rates = self.rates().to(stats.present.device)
            weights = dwa_weights(rates, self.temperature, stats.present).to(stats.share)
        loss = (weights * stats.share).sum()
        return StrategyOutput(loss, stats.losses, weights, stats.present,
                              {"rate": rates.to(stats.share).clone()})

    @torch.no_grad()
    def after_step(self, out: StrategyOutput) -> None:
        """Push this step's per-task losses into the ring (present tasks only)."""
        slot = int(self.seen) % (2 * self.window)
        present = out.present.to(self.hist_sum.device)
        losses = out.task_losses.detach().to(self.hist_sum)
        self.hist_sum[slot] = torch.where(present, losses, torch.zeros_like(losses))
        self.hist_count[slot] = present.to(self.hist_count)
        self.seen += 1
