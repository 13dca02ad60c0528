"""MiOIR prompt learning around any backbone (``prompted``).

Kong, Dong and Zhang ("Towards Effective Multiple-in-One Image Restoration: A Sequential and
Prompt Learning Strategy") condition a restoration network on a task prompt; the design below is
read from the official architectures (``Xiangtaokong/MiOIR basicsr/archs/srresnet_arch.py``:
``SRResNet_EP``/``SRResNet_AP``, ``uformer_arch.py``: ``Uformer_EP``/``Uformer_AP``):

* a **prompt extractor** ``F_ext``: ``ZeroPad(1) + Conv7x7/2``, ``ZeroPad(1) + Conv3x3/2``,
  ``ZeroPad(1) + Conv3x3/2`` (64 channels, ReLU after each), then the global mean: a 64-d vector;
* **explicit prompt (EP)**: ``F_ext`` reads a fixed map per task (1 x 128 x 128, uniform random:
  the authors' ``data/type7.npy`` holds 7 such maps); the task must be known;
* **adaptive prompt (AP)**: ``F_ext`` reads the degraded input itself (3 channels): task-agnostic;
* **injection**: at every modulated feature ``f`` (SRResNet: after each of the 16 residual blocks
  and after ``conv_hr``; Uformer: the bottleneck and every decoder level), two linear layers of the
  prompt vector give a per-channel ``scale`` and ``shift``: ``f <- f * scale + shift + f``; the
  output residual is modulated the same way (3 channels).

Here the backbone is any registered one: the modulated features are the outputs of the backbone
submodules named in ``prompt_sites`` (forward hooks; channels found by one probe forward at build
time; BCHW maps and B x L x C token sequences are both handled), by default the backbone's
``uem_tap`` (its last full-resolution feature). The output modulation acts on the residual
``pred - lq``, as MiOIR's on the last conv before the input is added back. Configs name the
paper's sites (``configs/models/srresnet_prompt_*.yaml``, ``uformer_prompt_*.yaml``).

Departures (documented options): ``prompt_per_site=True`` gives each site its own ``F_ext``
(MiOIR's Uformer uses five for its six injections: bottleneck and first decoder level share one;
SRResNet shares one: the default); on SRResNet the ``conv_hr`` site is the conv's output, before
the LeakyReLU the authors modulate after; the explicit maps are drawn from ``prompt_seed``
instead of read from the authors' file (same distribution, same size).

**Initialisation.** The backbone's layers named in its ``prompt_default_init`` are reset to
PyTorch's default init after it is built: MiOIR's ``SRResNet_EP``/``SRResNet_AP`` never call
BasicSR's scaled Kaiming init on ``conv_first``, ``conv_hr`` and ``conv_last`` (the plain
``SRResNet`` does; the residual blocks keep it in every variant).

**The task at training and test time.** The engine trains through :meth:`PromptedNet.train_forward`
(the batch carries ``task_id``). ``forward(x)`` has no task: the adaptive variant needs none; the
explicit variant uses ``forward(x, task_id=...)`` or the task set by :meth:`PromptedNet.use_task`
(``with net.use_task(k): net(x)``) and otherwise raises a clear error. With
``prompt_task_names`` the explicit variant also offers the engine's ``task_context(name)`` hook,
so validation, ``aioir eval`` and the bench restore every test set with its task's prompt (the
oracle task). (MiOIR evaluates its EP models with a separately trained degradation classifier
supplying the task.)

>>> import torch
>>> from aioir import models
>>> net = models.build("prompted", backbone="tiny_unet", width=8)
>>> net(torch.rand(1, 3, 20, 18)).shape
torch.Size([1, 3, 20, 18])
>>> ep = models.build("prompted", backbone="tiny_unet", width=8, prompt="explicit",
...                   prompt_tasks=3)
>>> with ep.use_task(2):
...     ep(torch.rand(1, 3, 20, 18)).shape
torch.Size([1, 3, 20, 18])
>>> named = models.build("prompted", backbone="tiny_unet", width=8, prompt="explicit",
...                      prompt_tasks=2, prompt_task_names=["noise", "rain"])
>>> with named.task_context("rain"):
...     named._task
1
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn

from aioir.models import MODELS, TEST_OPTIONS

PROMPTS = ("adaptive", "explicit")


class PromptExtractor(nn.Module):
    """MiOIR's ``F_ext``: three strided convolutions and a global mean -> (B, nf).

    >>> import torch
    >>> PromptExtractor(3, 16)(torch.rand(2, 3, 40, 33)).shape
    torch.Size([2, 16])
    """

    def __init__(self, in_channels: int, nf: int = 64) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d(1)
        self.conv1 = nn.Conv2d(in_channels, nf, 7, 2, 0)
        self.conv2 = nn.Conv2d(nf, nf, 3, 2, 0)
        self.conv3 = nn.Conv2d(nf, nf, 3, 2, 0)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h < 5 or w < 5:  # the 7x7 conv needs 5 px after the 1 px padding
            x = nn.functional.pad(x, (0, max(0, 5 - w), 0, max(0, 5 - h)), mode="replicate")
        x = self.act(self.conv1(self.pad(x)))
        x = self.act(self.conv2(self.pad(x)))
        x = self.act(self.conv3(self.pad(x)))
        return x.mean(dim=(2, 3))


class _Modulate:
    """Forward hook: ``out * scale + shift + out`` with the wrapper's current modulation."""

    def __init__(self, owner: PromptedNet, index: int) -> None:
        self.owner = owner
        self.index = index

    def __call__(self, module: nn.Module, inputs: Any, output: Any) -> Any:
        mods = self.owner._mods
        if mods is None or not isinstance(output, torch.Tensor):
            return None
        scale, shift = mods[self.index]
        if output.dim() == 4:  # (B, C, H, W)
            scale, shift = scale[:, :, None, None], shift[:, :, None, None]
        else:  # (B, L, C) tokens
            scale, shift = scale[:, None, :], shift[:, None, :]
        return output * scale.to(output.dtype) + shift.to(output.dtype) + output


@MODELS.register("prompted")
class PromptedNet(nn.Module):
    """A backbone with MiOIR task prompts (explicit or adaptive).

    Args:
        backbone: registered backbone name.
        prompt: ``"adaptive"`` (AP, from the input; default) or ``"explicit"`` (EP, task given).
        prompt_tasks: number of explicit prompts (EP only; 7).
        prompt_sites: dotted names of backbone submodules whose outputs are modulated; ``None``:
            the backbone's ``uem_tap``. The output residual is always modulated.
        prompt_dim: the prompt vector's size (64).
        prompt_size: side of the explicit task maps (128).
        prompt_per_site: one ``F_ext`` per site (and one for the output) instead of a shared one.
        prompt_seed: seed of the explicit task maps.
        prompt_task_names: the names of the explicit prompts' tasks, in task-id order (the run's
            tasks, ``data.tasks`` order): with them the network gives the engine a
            ``task_context(name)`` hook, so validation and ``aioir eval`` restore each test set
            with its task's prompt (the oracle task; MiOIR uses a trained classifier instead).
        prompt_probe: side of the probe input used at build time to find the sites' channels.
        **backbone_options: every other option goes to the backbone (so a backbone's config can
            be wrapped by changing ``model.name`` and adding the ``prompt*`` keys).
    """

    task_maps: torch.Tensor

    def __init__(
        self,
        backbone: str = "srresnet",
        prompt: str = "adaptive",
        prompt_tasks: int = 7,
        prompt_sites: Sequence[str] | None = None,
        prompt_dim: int = 64,
        prompt_size: int = 128,
        prompt_per_site: bool = False,
        prompt_seed: int = 0,
        prompt_probe: int = 32,
        prompt_task_names: Sequence[str] | None = None,
        **backbone_options: Any,
    ) -> None:
        super().__init__()
        if prompt not in PROMPTS:
            raise ValueError(f"prompt must be one of {PROMPTS}, got {prompt!r}")
        if backbone == "prompted":
            raise ValueError("prompted cannot wrap itself")
        if prompt == "explicit" and prompt_tasks < 1:
            raise ValueError(f"prompt_tasks must be >= 1, got {prompt_tasks}")
        if prompt_task_names is not None and len(prompt_task_names) != prompt_tasks:
            raise ValueError(f"prompt_task_names has {len(prompt_task_names)} names for "
                             f"prompt_tasks={prompt_tasks}: give one name per explicit prompt")
        self.backbone = MODELS.build(backbone, **backbone_options)
        # MiOIR's EP/AP architectures initialise some layers differently from the plain network
        # (SRResNet_EP/_AP: conv_first, conv_hr, conv_last keep PyTorch's default init)
        for name in getattr(self.backbone, "prompt_default_init", ()):
            self.backbone.get_submodule(name).reset_parameters()
        self.prompt = prompt
        self.num_tasks = int(prompt_tasks)
        inner_tap = getattr(self.backbone, "uem_tap", None)
        sites = prompt_sites
        self.sites = list(sites) if sites is not None else ([inner_tap] if inner_tap else [])
        channels = self._probe_channels(prompt_probe)
        in_ch = 1 if prompt == "explicit" else 3
        n_ext = len(self.sites) + 1 if prompt_per_site else 1
        self.extractors = nn.ModuleList(PromptExtractor(in_ch, prompt_dim) for _ in range(n_ext))
        self.scales = nn.ModuleList(nn.Linear(prompt_dim, c) for c in channels + [3])
        self.shifts = nn.ModuleList(nn.Linear(prompt_dim, c) for c in channels + [3])
        if prompt == "explicit":
            gen = torch.Generator().manual_seed(int(prompt_seed))
            self.register_buffer(
                "task_maps", torch.rand(prompt_tasks, prompt_size, prompt_size, generator=gen)
            )
        self._mods: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._task: int | None = None
        self.task_names = None if prompt_task_names is None else [str(t) for t in
                                                                   prompt_task_names]
        if prompt == "explicit":  # the engine's hook: each test set restored with its prompt
            self.task_context = self._task_context
        for i, name in enumerate(self.sites):
            self.backbone.get_submodule(name).register_forward_hook(_Modulate(self, i))
        # what the engine and strategies read off a backbone
        if inner_tap:
            self.uem_tap = f"backbone.{inner_tap}"
        self.uem_channels = getattr(self.backbone, "uem_channels", None)
        for attr in ("train_views", "aux_loss_weights"):
            if hasattr(self.backbone, attr):
                setattr(self, attr, getattr(self.backbone, attr))
        unused = getattr(self.backbone, "unused_in_forward", ())
        if unused:
            self.unused_in_forward = tuple(f"backbone.{n}" for n in unused)

    def _probe_channels(self, size: int) -> list[int]:
        seen: dict[int, torch.Size] = {}
        handles = []
        for i, name in enumerate(self.sites):
            try:
                module = self.backbone.get_submodule(name)
            except AttributeError as err:
                raise ValueError(
                    f"prompted: site {name!r} is not a submodule of "
                    f"{type(self.backbone).__name__}"
                ) from err

            def record(m: nn.Module, inp: Any, out: Any, i: int = i) -> None:
                if torch.is_tensor(out):
                    seen.setdefault(i, out.shape)

            handles.append(module.register_forward_hook(record))
        was = self.backbone.training
        self.backbone.eval()
        try:
            with torch.no_grad():
                self.backbone(torch.zeros(1, 3, size, size))
        finally:
            self.backbone.train(was)
            for h in handles:
                h.remove()
        out = []
        for i, name in enumerate(self.sites):
            shape = seen.get(i)
            if shape is None or len(shape) not in (3, 4):
                raise ValueError(
                    f"prompted: site {name!r} gives no (B, C, H, W) or (B, L, C) tensor"
                )
            out.append(int(shape[1] if len(shape) == 4 else shape[-1]))
        return out

    # ------------------------------------------------------------------ the task (EP)
    @contextmanager
    def use_task(self, task: int) -> Iterator[PromptedNet]:
        """Run ``forward(x)`` with the explicit prompt of ``task`` inside the block."""
        if not 0 <= int(task) < self.num_tasks:
            raise ValueError(f"task must lie in [0, {self.num_tasks}), got {task}")
        previous, self._task = self._task, int(task)
        try:
            yield self
        finally:
            self._task = previous

    def _task_context(self, task: str) -> Any:
        """``with net.task_context("noise"):`` -- :meth:`use_task` by name (explicit prompts)."""
        if self.task_names is None:
            raise ValueError(
                "prompted (explicit prompts) was asked to restore a test set of task "
                f"{task!r} but has no prompt_task_names: set model.options.prompt_task_names to "
                "the run's tasks in data.tasks order")
        if task not in self.task_names:
            raise ValueError(f"prompted: task {task!r} has no explicit prompt (prompt_task_names:"
                             f" {', '.join(self.task_names)})")
        return self.use_task(self.task_names.index(task))

    def _prompt_inputs(self, lq: torch.Tensor, task_id: torch.Tensor | None) -> torch.Tensor:
        if self.prompt == "adaptive":
            return lq
        if task_id is None:
            if self._task is None:
                raise ValueError(
                    "prompted (explicit prompts) needs the task: pass task_id, or run inside "
                    "`with net.use_task(k):`; only prompt='adaptive' is task-agnostic"
                )
            task_id = torch.full((lq.shape[0],), self._task, dtype=torch.long)
        task_id = task_id.to(self.task_maps.device).long()
        return self.task_maps[task_id].unsqueeze(1).to(lq.dtype)

    def _modulations(self, lq: torch.Tensor, task_id: torch.Tensor | None):
        src = self._prompt_inputs(lq, task_id)
        n = len(self.scales)
        vecs = [ext(src) for ext in self.extractors]
        pick = (lambda i: vecs[i]) if len(vecs) == n else (lambda i: vecs[0])
        return [(self.scales[i](pick(i)), self.shifts[i](pick(i))) for i in range(n)]

    def _run(self, lq: torch.Tensor, task_id: torch.Tensor | None, call) -> Any:
        mods = self._modulations(lq, task_id)
        self._mods = mods[:-1]
        try:
            result = call()
        finally:
            self._mods = None
        return result, mods[-1]

    @staticmethod
    def _modulate_output(pred: torch.Tensor, lq: torch.Tensor, mod) -> torch.Tensor:
        scale, shift = (m[:, :, None, None].to(pred.dtype) for m in mod)
        residual = pred - lq
        return lq + residual * scale + shift + residual

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, task_id: torch.Tensor | None = None) -> torch.Tensor:
        pred, out_mod = self._run(x, task_id, lambda: self.backbone(x))
        return self._modulate_output(pred, x, out_mod)

    def train_forward(
        self, batch: Mapping[str, torch.Tensor], restore: bool = True
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Engine hook: the batch's ``task_id`` drives the explicit prompts."""
        lq = batch["lq"]
        task_id = batch.get("task_id") if self.prompt == "explicit" else None
        inner = getattr(self.backbone, "train_forward", None)

        def call():
            if callable(inner):
                return inner(batch, restore=restore)
            return self.backbone(lq), {}

        (pred, aux), out_mod = self._run(lq, task_id, call)
        if pred is None:
            return None, aux
        return self._modulate_output(pred, lq, out_mod), aux

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The backbone's groups (or ``backbone``) and ``prompt`` (extractors and projections)."""
        inner = getattr(self.backbone, "parameter_groups", None)
        groups = dict(inner()) if callable(inner) else {
            "backbone": [p for p in self.backbone.parameters() if p.requires_grad]
        }
        groups["prompt"] = [p for m in (self.extractors, self.scales, self.shifts)
                            for p in m.parameters()]
        return groups


TEST_OPTIONS["prompted"] = {
    "backbone": "tiny_unet",
    "width": 8,
    "blocks": 1,
    "global_tone": True,
    "prompt": "adaptive",
    "prompt_dim": 8,
}
