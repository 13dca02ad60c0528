"""``tur``: Task Uncertainty Regularization (TUR, AAAI 2025).

A training-only Uncertainty Estimation Module (:class:`~aioir.strategies.uem.UncertaintyHead`)
reads the backbone's last full-resolution feature (``model.uem_tap``) and predicts a positive
per-pixel map; the maps of each task's samples are averaged into that task's uncertainty, which
weights the task's reconstruction error and is regularised by a log term
(:func:`~aioir.strategies.functional.tur_loss`). At test time the head is discarded: the deployed
network is the plain backbone.

Forms (option ``form``):

* ``"authors"`` (default): the per-pixel L1 form the authors' experiments ran,
  ``L_k = mean(rho(pred - gt) / U_k) + log_weight * log(mean U_k)`` with ``rho(e) = |e|``;
  ``loss: charbonnier`` / ``l2`` generalise the authors' ``|e| / U`` to ``rho(e) / U``.
* ``"gaussian"``: the paper's Eq. 5, ``MSE_k / (2 sigma_k^2) + 1/2 log sigma_k^2`` with
  ``sigma_k^2`` the task's mean UEM value (:func:`~aioir.strategies.functional.tur_loss_gaussian`);
  its pixel loss defaults to ``l2`` (Eq. 4's squared error); ``l1``/``charbonnier`` put the
  task's mean ``rho`` in place of the MSE.

When every task group of a batch holds a single sample, the per-task averaging does nothing and
TUR computes exactly what ``ue`` computes: the strategy warns once per run (the authors trained
with batch 32).

Reported ``weights`` (for logs and plots; they are not applied separately, the loss is the
formula above): the effective weight of each present task's error, normalised to sum to 1 over
the present tasks: ``mean(1 / U_k)`` over the task's map (authors' form) or ``1 / (2 sigma_k^2)``
(Gaussian form, Eq. 7's ``w_k``). ``extras["uncertainty"]`` is each task's mean UEM value.

>>> import torch
>>> from aioir import models
>>> _ = torch.manual_seed(0)
>>> net, s = models.build("tiny_unet", width=8), TURStrategy(num_tasks=3)
>>> s.attach(net)
>>> x = torch.rand(2, 3, 12, 10)
>>> out = s(net(x), x, torch.tensor([0, 2]))
>>> out.weights[1].item(), bool(torch.isfinite(out.loss))
(0.0, True)
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
    per_task_sum_count_maps,
    tur_loss,
    tur_loss_gaussian,
)
from aioir.strategies.uem import UncertaintyStrategy

FORMS = ("authors", "gaussian")


@STRATEGIES.register("tur")
class TURStrategy(UncertaintyStrategy):
    """TUR: grouped task uncertainty from a UEM on the backbone's tapped feature.

    Args:
        num_tasks: K.
        log_weight: weight of the log regulariser in the authors' form (2).
        eps: added to the averaged uncertainty (1e-6).
        form: ``"authors"`` (per-pixel L1, default) or ``"gaussian"`` (paper Eq. 5).
        head_init: the head's initialisation, ``"torch"`` or ``"kaiming"`` (see ``uem``).
        loss: the pixel loss ``rho``; ``None`` (default) is the form's own: ``l1`` for
            ``authors``, ``l2`` for ``gaussian``.
        charbonnier_eps: ``eps`` of the Charbonnier loss.
        head_start: ``"init"`` (default, the paper's recipe) or ``"error"``: the head's output
            level starts at the first batch's optimum (``mean rho / log_weight``; Gaussian form:
            ``mean rho``), see :mod:`aioir.strategies.uem`.

    ``attach(model)`` must come before building the optimizer (the UEM's parameters are created
    there) and before ``load_state_dict`` (the UEM's keys exist only once it is created).
    """

    name = "tur"

    def __init__(
        self,
        num_tasks: int,
        log_weight: float = 2.0,
        eps: float = 1e-6,
        form: str = "authors",
        head_init: str = "torch",
        loss: str | None = None,
        charbonnier_eps: float = CHARBONNIER_EPS,
        head_start: str = "init",
    ) -> None:
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        if loss is None:
            loss = "l1" if form == "authors" else "l2"
        super().__init__(num_tasks, head_init=head_init, loss=loss,
                         charbonnier_eps=charbonnier_eps, head_start=head_start)
        self.log_weight = float(log_weight)
        self.eps = float(eps)
        self.form = form

    def optimum_uncertainty(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """The authors' form: ``mean rho / log_weight``; the Gaussian form's
        ``rho / (2 sigma^2) + 1/2 log sigma^2``: ``sigma^2 = mean rho``."""
        if self.form == "gaussian":
            return self.per_sample(pred, gt).detach().mean()
        return super().optimum_uncertainty(pred, gt)

    def forward(
        self, pred: torch.Tensor, gt: torch.Tensor, task_id: torch.Tensor
    ) -> StrategyOutput:
        u = self.uncertainty(pred, gt)
        k = self.num_tasks
        rho, ceps = self.pixel_loss, self.charbonnier_eps
        reduce, world = self.differentiable_reduce(), self.world_size
        if self.form == "authors":
            loss, _ = tur_loss(pred, gt, u, task_id, k, self.log_weight, self.eps, rho, ceps,
                               reduce=reduce, world_size=world)
        else:
            loss, _ = tur_loss_gaussian(pred, gt, u, task_id, k, self.eps, rho, ceps,
                                        reduce=reduce, world_size=world)
        with torch.no_grad():
            ud = u.detach().float()
            stats = self.task_statistics(self.per_sample(pred, gt).detach(), task_id)
            present = stats.present
            map_sums, _ = per_task_sum_count_maps(ud, task_id, k)
            u_sums, _ = per_task_sum_count(ud.flatten(1).mean(1), task_id, k)
            packed = self.all_reduce_sum(torch.cat([map_sums.reshape(-1), u_sums]))
            map_sums = packed[: map_sums.numel()].view_as(map_sums)
            denom = stats.counts.clamp_min(1)
            mean_u = packed[map_sums.numel():] / denom
            if self.form == "authors":
                maps = map_sums / denom.view(-1, 1, 1, 1)
                raw = (1.0 / (maps + self.eps)).flatten(1).mean(1)
            else:
                raw = 1.0 / (2.0 * (mean_u + self.eps))
            weights = normalise_present(raw, present)
            if len(task_id) > 1 and bool((stats.counts[present] == 1).all()):
                self.warn_once(
                    "single", "every task group of this batch holds a single sample, so TUR's "
                    "per-task averaging does nothing and TUR equals UE; use a batch with several "
                    f"samples per task (the authors trained with batch 32; batch "
                    f"{int(stats.counts.sum())})",
                )
        return StrategyOutput(loss, stats.losses, weights, present, {"uncertainty": mean_u})
