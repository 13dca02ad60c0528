"""Generalization Enhanced Fine-tuning (GEF): the auxiliary terms of one fine-tuning step.

``L_fine = L_content + L_reg + L_orthog`` (Eq. 22), with the mixed generative training of
Sec. 2.1 and Algorithm 3. The content loss is the run's strategy on the restoration prediction
(the engine's part; EEDTP adds ``0.1 x`` the frequency loss ``fft``, an engine extra loss in the
configs); :class:`GEFObjective` returns the rest as the aux losses ``gen``, ``reg`` and ``orthog``
(each weighted 1 unless a stage's ``aux_weights`` say otherwise):

* ``gen``: the generative samples. ``gen_mode: iteration`` (default, EEDTP's
  ``random.random() < gen_prob``): a step carries a generative batch with probability
  ``gen_ratio`` (10 %), the ``B`` ground truths of its pairs; ``gen_mode: sample``:
  ``n_g = round_stochastic(B * r / (1 - r))`` clean images drawn from the batch's ground truths
  every step. They are diffused at ``t ~ U{1..T}`` and scored with the DDPM loss; the network
  runs with every parameter outside the shallow group *detached*, so their gradient reaches only
  the shallow layers (Sec. 2.2 Solution 2). Sample ``i`` is weighted by ``w = exp(-a t_i)``
  (Eq. 21), with ``t_i`` the ``t_mat`` of the task its image came from by default;
  ``gen = sum_i w_i l_i / B``, so one generative sample counts as much as one restoration sample
  (times ``w``). (EEDTP computes this loss but adds only L_reg and L_orthog to the total;
  Algorithm 3 lines 5-8 update with it: aioir follows the paper.)
* ``reg``: L_reg against the prior (:func:`~aioir.models.diffusion.regularizers.eedtp_penalty` with
  ``reg_form: eedtp``, else :func:`~aioir.models.diffusion.regularizers.importance_penalty` with each
  importance divided by its mean over all parameters under ``reg_normalize: mean``),
  ``lambda = 0.2``; with ``reg_layer_decay`` the parameters of block ``l`` (forward order, see
  :meth:`DiffusionNet.parameter_depths`) get ``lambda * exp(-a l)``. Under ``gen_mode:
  iteration`` only the steps that carry a generative batch add it (EEDTP).
* ``orthog``: :func:`~aioir.models.diffusion.regularizers.orthogonality_loss` of the per-sample
  gradients, over the shallow parameters, of the generative samples (their DDPM loss) and of the
  restoration samples (their L1 content loss), computed with ``torch.func`` and kept in the graph.

With no generative sample in a step, ``gen`` and ``orthog`` (and, under ``gen_mode:
iteration``, ``reg``) are 0 for that step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from aioir.models.diffusion.generative import draw_noise, generative_losses
from aioir.models.diffusion.prior import load_prior
from aioir.models.diffusion.regularizers import (
    FORMS,
    METHODS,
    REG_FORMS,
    eedtp_penalty,
    importance_penalty,
    orthogonality_loss,
    per_sample_grads,
    stochastic_round,
)
from aioir.models.diffusion.schedule import decay_weight, eps_from_output

GEN_WEIGHTS = ("t_mat", "t", "none")
GEN_MODES = ("iteration", "sample")
IMPORTANCE_DATA = ("finetune", "pretrain")
IMPORTANCES = ("squared", "absolute")
NORMALIZE = ("mean", "none")


def normalized(table: Mapping[str, torch.Tensor], how: str) -> dict[str, torch.Tensor]:
    """``table`` divided by its mean over every element of every tensor (``"mean"``), or as is.

    >>> normalized({"a": torch.tensor([1.0, 3.0]), "b": torch.tensor([4.0])}, "mean")["b"]
    tensor([1.5000])
    """
    if how == "none":
        return dict(table)
    total = sum(float(v.double().sum()) for v in table.values())
    count = sum(v.numel() for v in table.values())
    mean = total / max(count, 1)
    if mean <= 0:
        return dict(table)
    return {k: v / mean for k, v in table.items()}


class GEFObjective:
    """The GEF aux losses for one :class:`~aioir.models.diffusion.network.DiffusionNet`.

    The prior file is read on the first step that needs it (``reg_lambda > 0``).
    """

    def __init__(self, net: Any, options: Any) -> None:
        self.net = net
        self.opts = options
        o = options
        if not 0.0 <= o.gen_ratio < 1.0:
            raise ValueError(f"model.options.gef.gen_ratio must lie in [0, 1), got {o.gen_ratio}")
        for key, value, allowed in (("gen_weight", o.gen_weight, GEN_WEIGHTS),
                                    ("gen_mode", o.gen_mode, GEN_MODES),
                                    ("reg_form", o.reg_form, REG_FORMS),
                                    ("importance_data", o.importance_data, IMPORTANCE_DATA),
                                    ("reg_importance", o.reg_importance, IMPORTANCES),
                                    ("reg_normalize", o.reg_normalize, NORMALIZE),
                                    ("orthog_form", o.orthog_form, FORMS),
                                    ("orthog_method", o.orthog_method, METHODS)):
            if value not in allowed:
                raise ValueError(f"model.options.gef.{key} must be one of {allowed}, "
                                 f"got {value!r}")
        if o.reg_lambda < 0:
            raise ValueError("model.options.gef.reg_lambda must be >= 0")
        if o.reg_lambda > 0 and not o.prior:
            raise ValueError(
                "model.options.gef.prior is not set: L_reg needs the prior file of the "
                "pre-training run (`aioir diffusion finetune --pretrained RUN` sets it), or set "
                "model.options.gef.reg_lambda: 0"
            )
        if o.importance_batches < 1:
            raise ValueError("model.options.gef.importance_batches must be >= 1")
        if o.orthog_samples is not None and o.orthog_samples < 1:
            raise ValueError("model.options.gef.orthog_samples must be >= 1 or null")
        self._reg: tuple | None = None
        self._shallow: set[str] | None = None

    @property
    def shallow(self) -> set[str]:
        """Names of the shallow parameters (the network's structure is fixed: computed once)."""
        if self._shallow is None:
            self._shallow = set(self.net.shallow_names())
        return self._shallow

    # ------------------------------------------------------------------ pieces
    def generative_count(self, batch_size: int) -> int:
        """How many generative samples join a step of ``batch_size`` restoration pairs: all
        ``batch_size`` with probability ``gen_ratio`` or none (``gen_mode: iteration``), or
        ``round_stochastic(B r / (1 - r))`` (``sample``)."""
        r = self.opts.gen_ratio
        if r <= 0:
            return 0
        if self.opts.gen_mode == "iteration":
            return batch_size if float(torch.rand(())) < r else 0
        return stochastic_round(batch_size * r / (1.0 - r))

    def sample_weights(self, t_mat: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``w`` of each generative sample (Eq. 21)."""
        if self.opts.gen_weight == "none":
            return torch.ones(t.shape, dtype=torch.float32, device=t.device)
        source = t_mat if self.opts.gen_weight == "t_mat" else t
        return decay_weight(source, self.opts.decay_rate).to(t.device)

    def _reg_tables(self, device: torch.device) -> tuple:
        if self._reg is None:
            prior = load_prior(self.opts.prior)
            params = dict(self.net.named_parameters())
            extra = sorted(set(prior.theta) - set(params))
            if extra:
                raise ValueError(f"prior {self.opts.prior} does not match the network: it has "
                                 f"parameters the network lacks, e.g. {extra[:5]}")
            for name, value in prior.theta.items():
                if tuple(value.shape) != tuple(params[name].shape):
                    raise ValueError(f"prior {self.opts.prior}: {name} has shape "
                                     f"{tuple(value.shape)}, the network "
                                     f"{tuple(params[name].shape)}")
            if self.opts.reg_form == "eedtp":
                omega, first = prior.absgrad, None
            else:
                how = self.opts.reg_normalize
                omega = normalized(
                    prior.fisher if self.opts.reg_importance == "squared" else prior.absgrad, how)
                first = normalized(prior.absgrad, how) if self.opts.reg_first_order else None
            factor = None
            if self.opts.reg_layer_decay:
                depth = self.net.parameter_depths()
                factor = {n: float(decay_weight(depth[n], self.opts.decay_rate))
                          for n in prior.theta}

            def move(table: Mapping[str, torch.Tensor] | None):
                return None if table is None else {k: v.to(device) for k, v in table.items()}

            self._reg = (move(prior.theta), move(omega), move(first), factor)
        return self._reg

    def regularisation(self) -> torch.Tensor:
        """L_reg at the current parameters."""
        params = dict(self.net.named_parameters())
        device = next(iter(params.values())).device
        theta, omega, first, factor = self._reg_tables(device)
        if self.opts.reg_form == "eedtp":
            return eedtp_penalty(params, theta, omega, lam=self.opts.reg_lambda,
                                 layer_factor=factor)
        return importance_penalty(params, theta, omega, lam=self.opts.reg_lambda,
                                  layer_factor=factor, first_order=first)

    # ------------------------------------------------------------------ one step
    def terms(self, batch: Mapping[str, torch.Tensor], steps: torch.Tensor
              ) -> dict[str, torch.Tensor]:
        """``{"gen", "reg", "orthog"}`` for a batch whose tasks' matched steps are ``steps``."""
        net, o = self.net, self.opts
        gt = batch["gt"]
        b = gt.shape[0]
        zero = gt.new_zeros(())
        out: dict[str, torch.Tensor] = {}
        n_g = self.generative_count(b)
        shallow = self.shallow
        gen = None
        if n_g:
            if o.gen_mode == "iteration":
                src = torch.arange(b, device=gt.device)
            else:
                src = (torch.randperm(b)[:n_g] if n_g <= b else torch.randint(0, b, (n_g,))).to(
                    gt.device)
            x0 = gt[src]
            t, eps = draw_noise(net, x0)
            frozen = {n: p.detach() for n, p in net.named_parameters() if n not in shallow}
            losses = generative_losses(net, x0, t, eps, overrides=frozen)
            w = self.sample_weights(steps[src], t)
            out["gen"] = (w * losses).sum() / b
            gen = (x0, t, eps)
        else:
            out["gen"] = zero
        if o.reg_lambda > 0:
            every_step = o.gen_mode == "sample"
            out["reg"] = self.regularisation() if (every_step or n_g) else zero
        if o.orthog:
            out["orthog"] = self.orthogonality(batch, steps, gen, shallow) if gen else zero
        return out

    def orthogonality(self, batch: Mapping[str, torch.Tensor], steps: torch.Tensor,
                      gen: tuple[torch.Tensor, torch.Tensor, torch.Tensor], shallow: set[str]
                      ) -> torch.Tensor:
        """L_orthog from per-sample shallow-layer gradients of both objectives."""
        from torch.func import functional_call


        net, o = self.net, self.opts
        params = {n: p for n, p in net.named_parameters() if n in shallow}
        if not params:
            raise ValueError("L_orthog needs shallow parameters: model.options.shallow_blocks "
                             "is 0")
        lq, gt = batch["lq"], batch["gt"]
        idx = torch.arange(lq.shape[0], device=lq.device)
        if o.orthog_samples is not None and o.orthog_samples < lq.shape[0]:
            idx = torch.randperm(lq.shape[0])[: o.orthog_samples].to(lq.device)
        emb_r = net.time(steps[idx])
        x0, t, eps = gen
        ab = net.schedule.abar(t)
        a, b = ab.sqrt().to(x0), (1.0 - ab).sqrt().to(x0)
        x_t = a.view(-1, 1, 1, 1) * x0 + b.view(-1, 1, 1, 1) * eps
        emb_g = net.time(t)
        prediction = net.prediction

        def restoration(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                        e: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            return (functional_call(net, p, (x,), {"emb": e, "t": s}) - y).abs().mean()

        def generative(p: dict[str, torch.Tensor], x: torch.Tensor, n: torch.Tensor,
                       e: torch.Tensor, s: torch.Tensor, ca: torch.Tensor, cb: torch.Tensor
                       ) -> torch.Tensor:
            r = functional_call(net, p, (x,), {"emb": e, "t": s})
            return (eps_from_output(prediction, r, x, ca, cb) - n).pow(2).mean()

        g_rec = per_sample_grads(restoration, params, (lq[idx], gt[idx], emb_r, steps[idx]),
                                 o.orthog_method)
        g_gen = per_sample_grads(generative, params, (x_t, eps, emb_g, t, a, b), o.orthog_method)
        return orthogonality_loss(g_gen, g_rec, o.orthog_form)
