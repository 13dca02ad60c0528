"""``gradnorm``: gradient normalization (Chen, Badrinarayanan, Lee and Rabinovich, "GradNorm:
Gradient Normalization for Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018).

Learnable task weights ``w_k`` (a parameter of the strategy, optimised by the engine's optimizer,
starting at 1) weight the network's loss, ``sum_k w_k L_k`` (divided by ``sum w`` over the present
tasks: the scale of a mean; with every task present that is the paper's ``sum w_k L_k / K``).
The weights themselves learn from the gradient loss (Eq. 1-2):

* ``G_k = |grad_W (w_k L_k)| = w_k |grad_W L_k|`` on the shared weights ``W``,
  ``G_bar`` = mean of ``G_k`` over the present tasks;
* ``r_k = L~_k / mean(L~)`` with ``L~_k = L_k(t) / L_k(0)`` (the inverse training rate);
* ``L_grad = sum_k |G_k - G_bar r_k^alpha|``, the target ``G_bar r_k^alpha`` held constant, so
  ``d L_grad / d w_k = sign(G_k - target_k) |grad_W L_k|``;
* after each optimizer step the weights are renormalised to ``sum_k w_k = K`` (and kept above
  1e-6, so that a weight cannot cross zero: a guard the paper does not need to state).

``W`` (option ``layer``): ``None`` (default) takes the per-task gradients on every shared
parameter, as LibMTL does (one backward per task present); the paper uses the last shared
layer, cheaper: name a submodule of the backbone (e.g. ``"tail"`` for tiny_unet, ``"conv_last"``
for SRResNet). ``L_k(0)`` is each task's loss the first time the task is present (a persistent
buffer, so a resumed run keeps it).

Reported ``weights``: ``w_k`` normalised over the present tasks (the weights of this step's
loss); ``extras["grad_norm"]`` is the last ``|grad_W L_k|`` (per task).

>>> s = GradNormStrategy(num_tasks=3)
>>> s.alpha, s.weight.tolist()
(1.5, [1.0, 1.0, 1.0])
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn

from aioir.strategies import STRATEGIES
from aioir.strategies.base import StrategyOutput, TaskStats
from aioir.strategies.functional import CHARBONNIER_EPS, normalise_present
from aioir.strategies.gradient import GradientStrategy

#: lower bound of a weight after the renormalisation
MIN_WEIGHT = 1e-6


def gradnorm_weight_grad(
    weights: torch.Tensor, norms: torch.Tensor, losses: torch.Tensor, initial: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """``d L_grad / d w`` (over the given tasks, all present): ``sign(G - G_bar r^alpha) |g|``.

    >>> import torch
    >>> gradnorm_weight_grad(torch.ones(2), torch.tensor([1.0, 3.0]), torch.ones(2),
    ...                      torch.ones(2), 1.5).tolist()
    [-1.0, 3.0]
    """
    big_g = weights * norms
    ratio = losses / initial
    r = ratio / ratio.mean()
    target = big_g.mean() * r.pow(alpha)
    return torch.sign(big_g - target) * norms


@STRATEGIES.register("gradnorm")
class GradNormStrategy(GradientStrategy):
    """GradNorm.

    Args:
        num_tasks: K.
        alpha: the restoring-force asymmetry (1.5, the paper's NYU-v2 value and LibMTL's
            default).
        layer: dotted name of the backbone submodule whose parameters are ``W``; ``None``: all
            shared parameters.
        loss, charbonnier_eps: the pixel loss ``rho``.
    """

    initial: torch.Tensor
    last_norm: torch.Tensor

    name = "gradnorm"

    def __init__(
        self,
        num_tasks: int,
        alpha: float = 1.5,
        layer: str | None = None,
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        self.alpha = float(alpha)
        self.layer = layer
        self.weight = nn.Parameter(torch.ones(num_tasks))
        self.register_buffer("initial", torch.zeros(num_tasks, dtype=torch.float64))
        self.register_buffer("last_norm", torch.zeros(num_tasks))
        self._model: Any = None

    def attach(self, model: nn.Module) -> None:
        if self.layer is not None:
            model.get_submodule(self.layer)  # a clear error for a wrong name, at attach time
        self._model = weakref.ref(model)

    def detach(self) -> None:
        self._model = None

    def gradient_params(self, params: Sequence[nn.Parameter]) -> list[nn.Parameter]:
        shared = super().gradient_params(params)
        model = self._model() if self._model is not None else None
        if self.layer is None or model is None:
            return shared
        wanted = {id(p) for p in model.get_submodule(self.layer).parameters()}
        chosen = [p for p in shared if id(p) in wanted]
        if not chosen:
            raise ValueError(f"gradnorm: layer {self.layer!r} has no trained parameters")
        return chosen

    def output(self, stats: TaskStats) -> StrategyOutput:
        out = super().output(stats)
        w = self.weight.detach().to(stats.share)
        weights = normalise_present(w, stats.present)
        out.weights = weights
        # the network's loss, back-propagated normally: sum_k w_k L_k / sum_present w
        out.plain_loss = (weights * stats.share).sum()
        out.loss = out.plain_loss
        out.extras["grad_norm"] = self.last_norm.clone().to(stats.share)
        return out

    def combine(self, gram: torch.Tensor, tasks: list[int]) -> None:
        norms = torch.sqrt(torch.diagonal(gram).clamp_min(0))
        present = torch.zeros(self.num_tasks, dtype=torch.bool)
        present[tasks] = True
        losses = torch.zeros(self.num_tasks, dtype=torch.float64)
        hits = torch.zeros(self.num_tasks, dtype=torch.float64)
        for out in self._outs:
            p = out.present.cpu()
            losses += torch.where(p, out.task_losses.detach().double().cpu(), 0.0)
            hits += p.double()
        losses = losses / hits.clamp_min(1)
        init = self.initial.detach().cpu()
        new = present & (init <= 0)
        init = torch.where(new, losses, init)
        with torch.no_grad():
            self.initial.copy_(init.to(self.initial))
            self.last_norm.zero_()
            self.last_norm[tasks] = norms.to(self.last_norm)
        w = self.weight.detach().double().cpu()[tasks]
        ok = init[tasks] > 0
        grad = torch.zeros(self.num_tasks, dtype=torch.float64)
        if bool(ok.all()) and len(tasks) > 1:
            grad[tasks] = gradnorm_weight_grad(w, norms, losses[tasks], init[tasks], self.alpha)
        self.weight.grad = grad.to(self.weight)
        return None

    @torch.no_grad()
    def after_step(self, out: StrategyOutput) -> None:
        """Renormalise the weights to sum to K (each at least ``MIN_WEIGHT``)."""
        w = self.weight.data.clamp_min(MIN_WEIGHT)
        self.weight.data.copy_(w * (self.num_tasks / w.sum()))
