"""``diffusion``: any registered backbone made time-conditioned, trained by the one engine.

:class:`DiffusionNet` holds the plain backbone (``self.backbone``, its parameter names and
``state_dict`` layout untouched under the ``backbone.`` prefix), a time embedding, one
zero-initialised FiLM head per conditioned block (:mod:`aioir.models.diffusion.conditioning`) and,
optionally, MoE adapters with time-based prompts (:mod:`aioir.models.diffusion.moe`). The FiLM and MoE
parts act through forward hooks on the backbone's blocks, and only while a time step is set:

* ``net(x, t)`` computes ``r_theta(x, t)`` (``t``: an int or a (B,) tensor of steps in 1..T);
* ``net(x)`` uses ``test_t`` when set (the task's ``t_mat`` at test time, see below);
  without it the hooks do nothing and ``net(x)`` **is** the plain backbone, bit for bit;
* at initialisation every FiLM head and MoE output scale is zero, so ``net(x, t)`` equals the
  plain backbone's output exactly for every ``t``.

Training goes through the engine's ``TrainingModule`` via :meth:`DiffusionNet.train_forward`:

* a stage with ``recon_weight: 0`` is **generative pre-training** (Algorithm 1): the batch's clean
  images ``gt`` are diffused and the aux loss ``gen`` is the DDPM loss;
* a stage with reconstruction is **fine-tuning**: the restoration prediction
  ``r(lq, t_mat[task])`` goes to the run's strategy (mixed, TUR, Art, ... unchanged: TUR taps
  ``uem_tap = "backbone.<the backbone's tap>"``) and, when the ``gef`` option is set, the GEF
  terms ``gen`` (shallow-only generative samples), ``reg`` (L_reg) and ``orthog`` (L_orthog) are
  returned as aux losses (:mod:`aioir.models.diffusion.finetune`).

**Test time.** A network fine-tuned with per-task steps needs the task's ``t_mat`` at test time
(FACTS section 6, the paper's ``r_theta(x, t_mat)``): single-task fine-tuning stores it as
``test_t`` (plain ``net(x)`` then works everywhere: ``aioir eval``, ``restore``, ``export``);
a multi-task network stores the table ``task_t`` and, with ``require_t``, refuses ``net(x)``
without a step rather than silently restoring unconditioned; evaluate it per task with
``with net.use_task(name): ...``; every aioir evaluation (validation, ``aioir eval``,
``aioir diffusion eval``, the report's figures) does so through the model hook
:meth:`DiffusionNet.task_context`. :meth:`plain_backbone` returns the backbone alone (a fresh
instance with the same weights): the deployable network when time conditioning is off, and the
starting point of an export without the diffusion parts.

>>> import torch
>>> _ = torch.manual_seed(0)
>>> net = DiffusionNet(backbone="tiny_unet", backbone_options={"width": 8})
>>> x = torch.rand(1, 3, 20, 18)
>>> torch.equal(net(x, 7), net.backbone(x))    # zero-initialised conditioning
True
>>> [b.name for b in net.blocks][:3], net.uem_tap
(['head', 'enc1', 'down1'], 'backbone.tap')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from aioir import models
from aioir.config import from_dict
from aioir.models.diffusion.conditioning import Block, FiLMHead, TimeEmbedding, find_blocks
from aioir.models.diffusion.finetune import GEFObjective
from aioir.models.diffusion.generative import draw_noise, generative_losses
from aioir.models.diffusion.moe import EEDTPAdapter, MoEAdapter
from aioir.models.diffusion.schedule import NoiseSchedule, eps_from_output

PREDICTIONS = ("eps", "x0")
MOE_FORMS = ("eedtp", "bottleneck")


@dataclass
class GEFOptions:
    """Generalization Enhanced Fine-tuning (``model.options.gef``). Defaults: the paper's values,
    and the authors' released code (EEDTP ``train_eedtp.py``) where the paper is open; the other
    readings stay as options (docs/diffusion.md, "Readings of the paper").

    ``gen_mode``: ``"iteration"`` (default, EEDTP): with probability ``gen_ratio`` (10 %) a step
    carries a generative batch (the ground truths of its ``B`` pairs, diffused), and only those
    steps add L_reg and L_orthog; ``"sample"``: every step adds ``B * r / (1 - r)`` generative
    samples (stochastically rounded) and L_reg.
    ``gen_weight``: the factor of each generative sample, ``w(t) = exp(-decay_rate * t)`` with
    ``t`` the matched step of the task its image came from (``"t_mat"``, Eq. 21 "with matching
    time step t_mat"), its own diffusion step (``"t"``) or 1 (``"none"``).
    ``reg_lambda``: lambda of L_reg (0.2; 0 disables it); ``reg_form``: ``"eedtp"`` (Eq. 16 as
    EEDTP computes it: ``w |d| + 1/2 w^2 d^2`` with the raw ``w = mean |grad|``) or
    ``"second_order"`` (``1/2 Omega d^2``, with ``reg_importance``: Omega from ``"squared"``
    (Gauss-Newton) or ``"absolute"`` gradients, ``reg_normalize``: ``"mean"`` divides each
    importance by its mean over all parameters, ``"none"`` keeps the raw values,
    ``reg_first_order``: add ``mean|g| |d|``); ``reg_layer_decay``: lambda times
    ``exp(-decay_rate * l)`` for the parameters of block ``l`` (the "layer-wise decay" of the
    balancing coefficient);
    ``importance_data``: where the importances come from: ``"finetune"`` (EEDTP: the generative
    loss on the ground truths of ``importance_batches`` fine-tuning batches, at the pre-trained
    weights, computed when fine-tuning starts) or ``"pretrain"`` (the prior written by the
    pre-training run, from its own clean batches);
    ``prior``: the prior file (theta_pre and the importances).
    ``orthog``: add L_orthog; ``orthog_form``: ``"literal"`` (Eq. 17-19 as printed and EEDTP:
    the cross cosine driven to 1) or ``"opl"`` (driven to 0); ``orthog_method``: ``"vmap"`` or
    ``"loop"``; ``orthog_samples``: at most this many restoration samples enter L_orthog
    (``None``: all of the batch).
    """

    gen_ratio: float = 0.1
    gen_mode: str = "iteration"
    gen_weight: str = "t_mat"
    decay_rate: float = 0.05
    reg_lambda: float = 0.2
    reg_form: str = "eedtp"
    reg_importance: str = "squared"
    reg_normalize: str = "mean"
    reg_first_order: bool = False
    reg_layer_decay: bool = True
    importance_data: str = "finetune"
    importance_batches: int = 50
    prior: str | None = None
    orthog: bool = True
    orthog_form: str = "literal"
    orthog_method: str = "vmap"
    orthog_samples: int | None = None


class _BlockHook:
    """Forward hook of one conditioned block: applies the owner's modulation for block ``index``.

    Holds a plain reference to the owning :class:`DiffusionNet`, so a deep copy of the owner (the
    engine's EMA copy) gets hooks that point at the copy.
    """

    def __init__(self, owner: DiffusionNet, index: int) -> None:
        self.owner = owner
        self.index = index

    def __call__(self, module: nn.Module, inputs: Any, output: Any) -> Any:
        return self.owner._modulate(self.index, output)


class DiffusionNet(nn.Module):
    """A registered backbone with time conditioning (and optional MoE adapters).

    Args:
        backbone, backbone_options: the wrapped backbone (any name of :mod:`aioir.models`).
        timesteps: T (50). beta_start, beta_end, sigma, schedule: the noise schedule
            (:class:`~aioir.models.diffusion.schedule.NoiseSchedule`; ``schedule: eedtp`` the released
            code's, ``ddpm`` the paper's Algorithm 1 form, default).
        prediction: how ``eps_hat`` is read from the output: ``"eps"`` (the output is the noise,
            Algorithm 1 as printed) or ``"x0"`` (the output is the clean image and
            ``eps_hat = (x_t - sqrt(abar_t) r) / sqrt(1 - abar_t)``, Eq. 11's reparameterised
            ``r~``); see docs/diffusion.md.
        embed_dim: width of the time embedding.
        blocks: submodule names to condition (default: the backbone's ``time_blocks`` or the
            automatic rule of :func:`~aioir.models.diffusion.conditioning.find_blocks`).
        shallow_blocks: how many of the first blocks (in forward order) are "shallow": the
            only parameters generative samples update during fine-tuning.
        moe_experts: experts per MoE adapter (the paper: 10; 0: no adapters).
        moe_blocks: adapters after the last ``moe_blocks`` blocks, or after the blocks a list of
            names or shell patterns (EEDTP: after each decoder level, ``"decoders.*"`` on
            NAFNet, ``"dec*"`` on tiny_unet), in forward order.
        moe_form: ``"eedtp"`` (the released code's adapter) or ``"bottleneck"`` (see
            :mod:`aioir.models.diffusion.moe`).
        moe_hidden: bottleneck width of an expert (``bottleneck`` only; default ``C // 4``).
        tasks, task_t: the run's task names (in the run's order) and each task's ``t_mat``.
        test_t: the step ``net(x)`` uses when none is given (``None``: unconditioned).
        require_t: refuse ``net(x)`` without a step when ``test_t`` is unset.
        gef: :class:`GEFOptions` as a mapping (``None``: plain restoration fine-tuning).
    """

    def __init__(
        self,
        backbone: str = "tiny_unet",
        backbone_options: dict[str, Any] | None = None,
        timesteps: int = 50,
        beta_start: float | None = None,
        beta_end: float | None = None,
        sigma: str = "beta",
        schedule: str = "ddpm",
        prediction: str = "eps",
        embed_dim: int = 64,
        blocks: list[str] | None = None,
        shallow_blocks: int = 2,
        moe_experts: int = 0,
        moe_blocks: Any = 2,
        moe_form: str = "eedtp",
        moe_hidden: int | None = None,
        tasks: list[str] | None = None,
        task_t: dict[str, int] | None = None,
        test_t: int | None = None,
        require_t: bool = False,
        gef: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()

        if backbone == "diffusion":
            raise ValueError("model.options.backbone: a diffusion network cannot wrap itself")
        if prediction not in PREDICTIONS:
            raise ValueError(f"model.options.prediction must be one of {PREDICTIONS}, "
                             f"got {prediction!r}")
        self.backbone_name = backbone
        self.backbone_options = dict(backbone_options or {})
        self.backbone = models.build(backbone, **self.backbone_options)
        self.schedule = NoiseSchedule(timesteps, beta_start, beta_end, sigma, kind=schedule)
        self.prediction = prediction
        self.blocks: list[Block] = find_blocks(self.backbone, blocks)
        if not 0 <= shallow_blocks <= len(self.blocks):
            raise ValueError(f"model.options.shallow_blocks must lie in 0..{len(self.blocks)}, "
                             f"got {shallow_blocks}")
        self.shallow_blocks = int(shallow_blocks)
        self.time = TimeEmbedding(embed_dim)
        self.film = nn.ModuleList(FiLMHead(embed_dim, b.channels) for b in self.blocks)
        if moe_form not in MOE_FORMS:
            raise ValueError(f"model.options.moe_form must be one of {MOE_FORMS}, "
                             f"got {moe_form!r}")
        self.moe_form = moe_form
        self.moe = nn.ModuleDict()
        if moe_experts:
            for i in self._moe_indices(moe_blocks):
                c = self.blocks[i].channels
                self.moe[str(i)] = (EEDTPAdapter(c, moe_experts, timesteps) if moe_form == "eedtp"
                                    else MoEAdapter(c, embed_dim, moe_experts, moe_hidden))
        for i, b in enumerate(self.blocks):
            self.backbone.get_submodule(b.name).register_forward_hook(_BlockHook(self, i))
        self.tasks = list(tasks or [])
        for name, t in (task_t or {}).items():
            self._check_t(t, f"model.options.task_t.{name}")
        self.task_t = {str(k): int(v) for k, v in (task_t or {}).items()}
        missing = [n for n in self.tasks if n not in self.task_t]
        if missing:
            raise ValueError(f"model.options.task_t has no step for task(s) {missing}")
        if test_t is not None:
            self._check_t(test_t, "model.options.test_t")
        self.test_t = test_t
        self.require_t = bool(require_t)
        self.gef_options: GEFOptions | None = None
        self._gef: Any = None
        if gef is not None:
            self.gef_options = from_dict(GEFOptions, dict(gef), "model.options.gef")
        self._emb: torch.Tensor | None = None
        self._t: torch.Tensor | None = None
        # engine-facing attributes of the wrapped backbone
        self.uem_tap = f"backbone.{self.backbone.uem_tap}"
        self.uem_channels = int(getattr(self.backbone, "uem_channels"))  # noqa: B009 - typed Any, not Module
        self.train_views = int(getattr(self.backbone, "train_views", 1))
        self.aux_loss_weights = {
            **dict(getattr(self.backbone, "aux_loss_weights", {}) or {}),
            "gen": 1.0, "reg": 1.0, "orthog": 1.0,
        }
        unused = [f"backbone.{n}" for n in getattr(self.backbone, "unused_in_forward", ())]
        if self.test_t is None:  # net(x) is the plain backbone: the diffusion parts are idle
            unused += [n for n, _ in self.named_parameters() if not n.startswith("backbone.")]
        self.unused_in_forward = unused

    # ------------------------------------------------------------------ structure
    def _moe_indices(self, moe_blocks: Any) -> list[int]:
        if isinstance(moe_blocks, int):
            if not 1 <= moe_blocks <= len(self.blocks):
                raise ValueError(f"model.options.moe_blocks must lie in 1..{len(self.blocks)}")
            return list(range(len(self.blocks) - moe_blocks, len(self.blocks)))
        from fnmatch import fnmatchcase

        names = [b.name for b in self.blocks]
        if isinstance(moe_blocks, str):
            moe_blocks = [moe_blocks]
        unknown = [n for n in moe_blocks if not any(fnmatchcase(b, n) for b in names)]
        if unknown:
            raise ValueError(f"model.options.moe_blocks: {unknown} name no conditioned block "
                             f"({names})")
        return [i for i, b in enumerate(names) if any(fnmatchcase(b, n) for n in moe_blocks)]

    def _check_t(self, t: int, key: str) -> None:
        if not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= self.schedule.T:
            raise ValueError(f"{key}: a time step is an integer in 1..{self.schedule.T}, got {t!r}")

    def parameter_depths(self) -> dict[str, int]:
        """Block index of every parameter (forward order; shared time MLP 0; parameters outside
        every block count as the deepest, ``len(blocks)``)."""
        depth: dict[str, int] = {}
        for i, b in enumerate(self.blocks):
            for n, _ in self.backbone.get_submodule(b.name).named_parameters():
                depth[f"backbone.{b.name}.{n}"] = i
        for n, _ in self.named_parameters():
            if n in depth:
                continue
            parts = n.split(".")
            if parts[0] == "film" or parts[0] == "moe":
                depth[n] = int(parts[1])
            elif parts[0] == "time":
                depth[n] = 0
            else:
                depth[n] = len(self.blocks)
        return depth

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``shallow`` (the first ``shallow_blocks`` blocks and their FiLM heads), ``deep`` (every
        other backbone parameter and FiLM head), ``time`` (the shared time MLP), ``moe``, and the
        backbone's own groups as ``backbone.<name>``."""
        depth = self.parameter_depths()
        groups: dict[str, list[nn.Parameter]] = {"shallow": [], "deep": [], "time": [], "moe": []}
        for n, p in self.named_parameters():
            if n.startswith("time."):
                groups["time"].append(p)
            elif n.startswith("moe."):
                groups["moe"].append(p)
            elif depth[n] < self.shallow_blocks:
                groups["shallow"].append(p)
            else:
                groups["deep"].append(p)
        own = getattr(self.backbone, "parameter_groups", None)
        if callable(own):
            for name, params in own().items():
                groups[f"backbone.{name}"] = list(params)
        return groups

    def shallow_names(self) -> list[str]:
        """Names of the ``shallow`` group's parameters."""
        ids = {id(p) for p in self.parameter_groups()["shallow"]}
        return [n for n, p in self.named_parameters() if id(p) in ids]

    # ------------------------------------------------------------------ conditioning
    def _steps(self, t: Any, batch: int, device: torch.device) -> torch.Tensor:
        steps = torch.as_tensor(t, dtype=torch.long, device=device)
        if steps.dim() == 0:
            steps = steps.expand(batch)
        if steps.shape != (batch,):
            raise ValueError(f"t must be an int or a ({batch},) tensor, got shape "
                             f"{tuple(steps.shape)}")
        lo, hi = int(steps.min()), int(steps.max())
        if lo < 1 or hi > self.schedule.T:
            raise ValueError(f"time steps must lie in 1..{self.schedule.T}, got {lo}..{hi}")
        return steps

    @contextmanager
    def embedded(self, emb: torch.Tensor, steps: torch.Tensor | None = None
                 ) -> Iterator[None]:
        """Within the block, the backbone's blocks are modulated by the time embedding ``emb``
        (B, D) and the EEDTP adapters see the steps ``steps`` (B,) (no checks on them: the form
        used inside ``torch.func`` transforms)."""
        previous = self._emb, self._t
        self._emb, self._t = emb, steps
        try:
            yield
        finally:
            self._emb, self._t = previous

    @contextmanager
    def conditioned(self, t: Any, batch: int, device: torch.device) -> Iterator[None]:
        """Within the block, the backbone's blocks are modulated for steps ``t``."""
        steps = self._steps(t, batch, device)
        with self.embedded(self.time(steps), steps):
            yield

    def _modulate(self, index: int, out: Any) -> Any:
        emb = self._emb
        if emb is None:
            return None
        block = self.blocks[index]
        if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[1] != block.channels:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"conditioned block {block.name!r} returned {got}, expected "
                             f"(B, {block.channels}, H, W)")
        if out.shape[0] != emb.shape[0]:
            raise ValueError(f"block {block.name!r} saw a batch of {out.shape[0]} for "
                             f"{emb.shape[0]} time steps")
        scale, shift = self.film[index](emb)
        out = FiLMHead.modulate(out, scale.to(out.dtype), shift.to(out.dtype))
        adapter = self.moe[str(index)] if str(index) in self.moe else None  # noqa: SIM401 - nn.ModuleDict has no get()
        if isinstance(adapter, EEDTPAdapter):
            if self._t is None:
                raise ValueError("the EEDTP MoE adapters need the time steps: call net(x, t) "
                                 "or net(x, t=steps, emb=emb)")
            out = adapter(out, self._t)
        elif adapter is not None:
            out = adapter(out, emb)
        return out

    def _default_t(self) -> int | None:
        if self.test_t is None and self.require_t:
            raise ValueError(
                "this network was fine-tuned with per-task time steps "
                f"({self.task_t}) and needs the task's t at test time: evaluate it with "
                "`aioir eval` (each test set at its task's step) or restore inside "
                "`with net.use_task(name): ...`"
            )
        return self.test_t

    def forward(
        self, x: torch.Tensor, t: Any = None, *, emb: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``r_theta(x, t)``; ``t`` omitted: ``test_t``, or the plain backbone when unset.
        ``emb``: a precomputed time embedding (B, D) of the steps ``t`` (a (B,) tensor, passed
        unchecked to the MoE adapters; may be omitted without EEDTP adapters)."""
        if emb is not None:
            with self.embedded(emb, t if isinstance(t, torch.Tensor) else None):
                return self.backbone(x)
        if t is None:
            t = self._default_t()
        if t is None:
            return self.backbone(x)
        with self.conditioned(t, x.shape[0], x.device):
            return self.backbone(x)

    @contextmanager
    def use_task(self, task: str) -> Iterator[None]:
        """``net(x)`` uses ``task``'s matched step inside the block."""
        if task not in self.task_t:
            raise ValueError(f"no time step for task {task!r}; known: {sorted(self.task_t)}")
        previous = self.test_t
        self.test_t = self.task_t[task]
        try:
            yield
        finally:
            self.test_t = previous

    @contextmanager
    def task_context(self, task: str) -> Iterator[None]:
        """The evaluation hook (:mod:`aioir.models.hooks`): restore images of ``task`` inside
        the block, at its ``t_mat`` when the network has one for it; otherwise ``net(x)`` as it
        is (``test_t``, or the plain backbone), except that a network that requires a step
        says which task it lacks.

        >>> net = DiffusionNet(backbone_options={"width": 8}, tasks=["dark"],
        ...                    task_t={"dark": 38}, require_t=True)
        >>> with net.task_context("dark"):
        ...     net.test_t
        38
        >>> with net.task_context("rain"):
        ...     pass
        Traceback (most recent call last):
        ...
        ValueError: no time step for task 'rain': this network was fine-tuned with per-task steps {'dark': 38} and restores only those tasks
        """  # noqa: E501 - the doctest's expected output is one line
        if task in self.task_t:
            with self.use_task(task):
                yield
            return
        if self.require_t and self.test_t is None:
            raise ValueError(f"no time step for task {task!r}: this network was fine-tuned "
                             f"with per-task steps {self.task_t} and restores only those tasks")
        yield

    def task_steps(self, task_id: torch.Tensor) -> torch.Tensor:
        """``t_mat`` of each sample's task (B,), from ``tasks``/``task_t``."""
        if not self.tasks:
            raise ValueError(
                "restoration fine-tuning of a diffusion network needs model.options.tasks and "
                "model.options.task_t (the t_mat of every task; `aioir diffusion finetune` "
                "fills them from a match table)"
            )
        table = torch.tensor([self.task_t[n] for n in self.tasks], device=task_id.device)
        if int(task_id.max()) >= len(self.tasks):
            raise ValueError(f"task id {int(task_id.max())} out of model.options.tasks "
                             f"{self.tasks}")
        return table[task_id.long()]

    # ------------------------------------------------------------------ diffusion
    def eps_prediction(self, out: torch.Tensor, x_t: torch.Tensor, t: Any) -> torch.Tensor:
        """``eps_hat`` from the network's output at ``x_t`` (see ``prediction``)."""
        if self.prediction == "eps":
            return out
        steps = self._steps(t, x_t.shape[0], x_t.device)
        ab = self.schedule.abar(steps)
        return eps_from_output(self.prediction, out, x_t, ab.sqrt(), (1.0 - ab).sqrt())

    # ------------------------------------------------------------------ engine hooks
    def train_forward(
        self, batch: Mapping[str, torch.Tensor], restore: bool = True
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """The engine's training forward: generative pre-training without reconstruction,
        restoration at ``t_mat`` (+ the GEF terms) with it."""
        if not restore:
            x0 = batch["gt"]
            t, eps = draw_noise(self, x0)
            with self._auxiliary_forwards():
                return None, {"gen": generative_losses(self, x0, t, eps).mean()}
        steps = self.task_steps(batch["task_id"])
        aux: dict[str, torch.Tensor] = {}
        if self.gef_options is not None:
            # the auxiliary forwards run first: a strategy's tap hook (TUR) must see the
            # restoration forward last
            with self._auxiliary_forwards():
                aux.update(self.gef.terms(batch, steps))
        own = getattr(self.backbone, "train_forward", None)
        if callable(own):
            with self.conditioned(steps, batch["lq"].shape[0], batch["lq"].device):
                pred, extra = own(batch, restore=True)
            aux.update(extra)
        else:  # through forward: a strategy's hook on the model sees the call r(lq, t_mat)
            pred = self(batch["lq"], steps)
        return pred, aux

    @contextmanager
    def _auxiliary_forwards(self) -> Iterator[None]:
        """The generative and L_orthog forwards are not the model's restoration call: the
        hooks strategies hang on the whole model (FAMO keeps its training call to re-run it
        after the step) do not see them. Hooks on submodules (TUR's tap, the FiLM heads) do."""
        pre, post = self._forward_pre_hooks, self._forward_hooks
        self._forward_pre_hooks, self._forward_hooks = type(pre)(), type(post)()
        try:
            yield
        finally:
            self._forward_pre_hooks, self._forward_hooks = pre, post

    @property
    def gef(self) -> Any:
        """The GEF objective (built on first use: it reads the prior file)."""
        if self._gef is None:
            if self.gef_options is None:
                raise ValueError("model.options.gef is not set")
            self._gef = GEFObjective(self, self.gef_options)
        return self._gef

    # ------------------------------------------------------------------ loading / export
    def adapt_state_dict(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Accept a pre-trained network without MoE adapters (they start at their zero-scale
        initialisation) or a plain backbone's weights (conditioning starts at zero)."""
        state = dict(state)
        own = self.state_dict()
        if state and all(f"backbone.{k}" in own for k in state):
            state = {f"backbone.{k}": v for k, v in state.items()}
        fresh = ("moe.",) if any(k.startswith(("time.", "film.")) for k in state) else (
            "moe.", "time.", "film.")
        for k, v in own.items():
            if k not in state and k.startswith(fresh):
                state[k] = v
        return state

    def plain_backbone(self) -> nn.Module:
        """A fresh instance of the backbone with this network's backbone weights (no hooks)."""
        net = models.build(self.backbone_name, **self.backbone_options)
        net.load_state_dict(self.backbone.state_dict(), strict=True)
        return net.train(self.training)

    def __getstate__(self) -> dict[str, Any]:  # the GEF objective holds tensors of its own
        state = self.__dict__.copy()
        state["_gef"] = None
        return state
