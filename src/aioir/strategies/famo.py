"""``famo``: fast adaptive multitask optimization (Liu et al., "FAMO: Fast Adaptive Multitask
Optimization", NeurIPS 2023).

FAMO keeps task logits ``xi`` (``z = softmax(xi)`` over the present tasks) and decreases the
task losses at balanced *relative* rates with one backward pass:

* update direction: the gradient of ``sum_k z_k log L_k / c``, ``c = sum_k z_k / L_k``, i.e.
  ``sum_k a_k grad L_k`` with ``a_k = (z_k / L_k) / c`` (``sum a = 1``); aioir back-propagates
  ``sum_k a_k L_k`` with ``a`` detached (the same gradient; the official code's loss value is
  ``sum z log L / c``), ``L_k = loss_k - min_loss + 1e-8`` as the official code (``min_loss`` 0);
* after the model's step, ``delta_k = log L_k(theta_t) - log L_k(theta_{t+1})`` (the decrease of
  each log-loss) and ``xi`` takes one Adam step (lr ``w_lr``, weight decay ``gamma``) along
  ``J_softmax(xi)^T delta``, the official ``update``.

**The post-update loss.** The official code runs one extra forward pass without gradient on the
same batch after the optimizer step (``update="same"``, default here, as the official code).
aioir does it inside the strategy: ``attach(model)`` registers a forward pre-hook that keeps the
training call of each micro-batch (``model(lq)``; ``model(lq, t)`` for the diffusion wrapper,
whose ``train_forward`` restores through its own ``forward``), and ``after_step`` re-runs it (the
model's current mode, as the official trainer) and all-reduces the per-task losses. For a
backbone whose ``train_forward`` does not call its own ``forward`` (AirNet), and with
``update="next"``, the next step's losses (a new batch, at ``theta_{t+1}``) are used instead,
which costs no extra forward but measures the decrease on a different batch (noisier, and
without the same-batch bias). The strategy warns once when it falls back.

State (persistent buffers, exact resume, identical on every rank): ``logits`` and Adam's
``adam_m``, ``adam_v``, ``adam_t``; ``prev_loss``/``prev_present`` for ``update="next"``.

Reported ``weights``: ``a_k``; ``extras["z"]``: ``softmax(xi)`` over the present tasks.

>>> import torch
>>> s = FAMOStrategy(num_tasks=2, update="next")
>>> gt = torch.tensor([0.1, 0.3]).view(2, 1, 1, 1)
>>> out = s(torch.zeros(2, 1, 1, 1), gt, torch.tensor([0, 1]))
>>> [round(w, 4) for w in out.weights.tolist()]   # z = (1/2, 1/2): a ~ 1/L, normalised
[0.75, 0.25]
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from aioir.strategies import STRATEGIES
from aioir.strategies.base import Strategy, StrategyOutput
from aioir.strategies.functional import CHARBONNIER_EPS, per_task_sum_count

UPDATES = ("same", "next")
#: Adam's constants for the logits (torch defaults, as the official ``torch.optim.Adam``)
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def famo_coefficients(z: torch.Tensor, losses: torch.Tensor, present: torch.Tensor,
                      eps: float = 1e-8) -> torch.Tensor:
    """``a_k = (z_k / D_k) / sum_j (z_j / D_j)``, ``D = losses + eps``, over the present tasks.

    >>> import torch
    >>> famo_coefficients(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 3.0]),
    ...                   torch.tensor([True, True]), eps=0.0).tolist()
    [0.75, 0.25]
    """
    ratio = torch.where(present, z / (losses + eps), torch.zeros_like(z))
    return ratio / ratio.sum().clamp_min(torch.finfo(ratio.dtype).tiny)


def softmax_vjp(z: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """``J^T delta`` for ``z = softmax(xi)``: ``z * (delta - z . delta)``.

    >>> import torch
    >>> softmax_vjp(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0])).tolist()
    [0.25, -0.25]
    """
    return z * (delta - (z * delta).sum())


class _InputHook:
    """Forward pre-hook keeping the model's training call, its positional and keyword arguments
    (a time-conditioned network is called ``model(lq, t)``), by weak reference to the
    strategy."""

    def __init__(self, strategy: FAMOStrategy | None) -> None:
        self._ref = weakref.ref(strategy) if strategy is not None else None

    def __call__(self, module: nn.Module, args: Any, kwargs: Any) -> None:
        strategy = self._ref() if self._ref is not None else None
        if (strategy is not None and torch.is_grad_enabled() and args
                and isinstance(args[0], torch.Tensor)):
            strategy._input = (tuple(args), dict(kwargs or {}))

    def __deepcopy__(self, memo: dict[int, Any]) -> _InputHook:
        return _InputHook(None)


@STRATEGIES.register("famo")
class FAMOStrategy(Strategy):
    """FAMO.

    Args:
        num_tasks: K.
        w_lr: learning rate of the logits' Adam (0.025, official default).
        gamma: its weight decay (0.01, official default; the NYU-v2 script uses 0.001).
        update: ``"same"`` (post-update loss on the same batch, one extra forward; default, as
            the official code) or ``"next"`` (the next step's losses; no extra forward).
        loss, charbonnier_eps: the pixel loss ``rho``.
    """

    logits: torch.Tensor
    adam_m: torch.Tensor
    adam_v: torch.Tensor
    adam_t: torch.Tensor
    prev_loss: torch.Tensor
    prev_present: torch.Tensor

    name = "famo"

    def __init__(
        self,
        num_tasks: int,
        w_lr: float = 0.025,
        gamma: float = 0.01,
        update: str = "same",
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        if update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
        if w_lr <= 0 or gamma < 0:
            raise ValueError(f"w_lr must be > 0 and gamma >= 0, got {w_lr}, {gamma}")
        self.w_lr, self.gamma, self.update = float(w_lr), float(gamma), update
        f64 = torch.float64
        self.register_buffer("logits", torch.zeros(num_tasks, dtype=f64))
        self.register_buffer("adam_m", torch.zeros(num_tasks, dtype=f64))
        self.register_buffer("adam_v", torch.zeros(num_tasks, dtype=f64))
        self.register_buffer("adam_t", torch.zeros((), dtype=torch.int64))
        self.register_buffer("prev_loss", torch.zeros(num_tasks, dtype=f64))
        self.register_buffer("prev_present", torch.zeros(num_tasks, dtype=torch.bool))
        self._model: Any = None
        self._handle: Any = None
        self._input: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._pending: list[tuple[Any, torch.Tensor, torch.Tensor]] = []
        self._pending_sums: torch.Tensor | None = None
        self._step: tuple[list, torch.Tensor] | None = None

    # ------------------------------------------------------------------ hooks
    def attach(self, model: nn.Module) -> None:
        if self.update == "same" and self._handle is None:
            self._model = weakref.ref(model)
            self._handle = model.register_forward_pre_hook(_InputHook(self), with_kwargs=True)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._model, self._input, self._pending, self._step = None, None, [], None

    # ------------------------------------------------------------------ contract
    def z(self, present: torch.Tensor) -> torch.Tensor:
        """``softmax(xi)`` over the present tasks, 0 elsewhere."""
        score = torch.where(present, self.logits, torch.full_like(self.logits, -torch.inf))
        if not bool(present.any()):
            return torch.zeros_like(self.logits)
        return torch.softmax(score, 0).where(present, torch.zeros_like(self.logits))

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        stats = self.task_statistics(self.per_sample(pred, gt), task_id)
        with torch.no_grad():
            present = stats.present.to(self.logits.device)
            z = self.z(present)
            a = famo_coefficients(z, stats.losses.to(z), present)
            # this step's global per-task sums and counts, over its micro-batches
            both = torch.stack([stats.losses * stats.counts, stats.counts]).to(self.logits)
            self._pending_sums = both if self._pending_sums is None else self._pending_sums + both
            if self.update == "same":
                lq, self._input = self._input, None
                self._pending.append((lq, gt.detach(), task_id.detach()))
        loss = (a.to(stats.share) * stats.share).sum()
        return StrategyOutput(loss, stats.losses, a.to(stats.share), stats.present,
                              {"z": z.to(stats.share)})

    def finish_backward(self, params: Sequence[nn.Parameter], apply: bool) -> None:
        """Freeze this step's micro-batches for ``after_step`` (dropped if the step is skipped)."""
        sums = self._pending_sums
        self._step = (self._pending, sums) if apply and sums is not None else None
        self._pending, self._pending_sums = [], None

    @torch.no_grad()
    def after_step(self, out: StrategyOutput) -> None:
        """One Adam step of the logits along ``J_softmax^T delta``."""
        if self._step is None and self._pending_sums is not None:  # called without the engine
            self.finish_backward([], True)
        step, self._step = self._step, None
        if step is None:
            return
        batches, sums = step
        present = sums[1] > 0
        before = sums[0] / sums[1].clamp_min(1)  # the step's global per-task losses at theta_t
        new = self._post_update_losses(batches) if self.update == "same" else None
        if new is not None:
            new_losses, new_present = new
            both = present & new_present
            delta_from, delta_to = before, new_losses
        else:
            both = self.prev_present & present
            delta_from, delta_to = self.prev_loss, before
        eps = 1e-8
        delta = torch.where(both, torch.log(delta_from + eps) - torch.log(delta_to + eps),
                            torch.zeros_like(before))
        if bool(both.any()):
            self._adam(softmax_vjp(self.z(both), delta))
        self.prev_loss.copy_(torch.where(present, before, self.prev_loss))
        self.prev_present.copy_(present)

    def _post_update_losses(
        self, batches: list[tuple[Any, torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        model = self._model() if self._model is not None else None
        if model is None or not batches or any(lq is None for lq, _, _ in batches):
            self.warn_once(
                "fallback", "no captured model input (the backbone trains through "
                "train_forward, or the strategy is not attached): FAMO uses the next step's "
                "losses for its logit update (update='next')",
            )
            return None
        sums = torch.zeros(self.num_tasks, dtype=torch.float64, device=self.logits.device)
        counts = torch.zeros_like(sums)
        for (args, kwargs), gt, task_id in batches:
            pred = model(*args, **kwargs)
            s, c = per_task_sum_count(self.per_sample(pred, gt), task_id, self.num_tasks)
            sums += s.to(sums)
            counts += c.to(counts)
        reduced = self.all_reduce_sum(torch.stack([sums, counts]))
        return reduced[0] / reduced[1].clamp_min(1), reduced[1] > 0

    def _adam(self, grad: torch.Tensor) -> None:
        """``torch.optim.Adam(lr=w_lr, weight_decay=gamma)`` on ``logits``, by hand."""
        b1, b2 = ADAM_BETAS
        g = grad + self.gamma * self.logits
        self.adam_t += 1
        t = int(self.adam_t)
        self.adam_m.mul_(b1).add_((1 - b1) * g)
        self.adam_v.mul_(b2).add_((1 - b2) * g * g)
        m_hat = self.adam_m / (1 - b1**t)
        v_hat = self.adam_v / (1 - b2**t)
        self.logits.sub_(self.w_lr * m_hat / (v_hat.sqrt() + ADAM_EPS))
