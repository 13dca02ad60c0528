"""One way to build a run: ``build_run(cfg)`` turns a config into the parts the Trainer trains.

::

    cfg ──> check(cfg)                                   bad values: ConfigError naming the key
        ──> resolve_setting(cfg) ──> Setting (tasks, sources, test sets, protocol)
        ──> model (registry, options checked), EMA copy, strategy (attached), extra losses
        ──> TrainingModule, optimizer, stages (weights, frozen groups, task subsets)
        ──> train_dataset(...)   TaskMix of SyntheticTask / PairedDataset components
        ──> val sets             the setting's test sets (data.testsets), evaluated by
                                 aioir.engine.evaluation.evaluate — as `aioir eval` does

``aioir train``, ``aioir demo`` and the tests all build runs through :func:`build_run`;
components are looked up by registry name only.

>>> from aioir.config.schema import RunConfig
>>> cfg = RunConfig()
>>> cfg.data.tasks = ["noise", "dark"]
>>> cfg.train.steps, cfg.data.batch_size, cfg.data.patch_size = 2, 2, 16
>>> parts = build_run(cfg, device="cpu")
>>> parts.task_names, type(parts.train_data).__name__, [s.column for s in parts.val_sets]
(['noise', 'dark'], 'TaskMix', ['noise', 'dark'])
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn as nn

from aioir.config.errors import ConfigError, suggest
from aioir.config.schema import DataConfig, ModelConfig, OptimConfig, RunConfig, StrategyConfig


# ---------------------------------------------------------------------------- components
def check_options(factory: Callable[..., Any], options: dict[str, Any], key: str, what: str,
                  reserved: Iterable[str] = ()) -> None:
    """``ConfigError`` naming ``key`` when ``options`` holds a name ``factory`` does not take
    (a did-you-mean suggestion included); factories taking ``**kwargs`` accept anything.

    >>> def make(width=8, depth=2): ...
    >>> check_options(make, {"widht": 4}, "model.options", "tiny")
    Traceback (most recent call last):
    ...
    aioir.config.errors.ConfigError: model.options: tiny has no option 'widht'; did you mean 'width'? Options: depth, width
    """
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [n for n, p in params.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in ("self", "cls")
             and n not in set(reserved)]
    for name in options:
        if name in set(reserved):
            raise ConfigError(f"{key}: {name!r} is set by aioir itself, not in {key}")
        if name not in known:
            raise ConfigError(f"{key}: {what} has no option {name!r}{suggest(name, known)} "
                              f"Options: {', '.join(sorted(known)) or '(none)'}")


def build_model(cfg: ModelConfig) -> nn.Module:
    """The backbone, from released weights when ``model.pretrained`` is set."""
    from aioir import models

    try:
        factory = models.MODELS.get(cfg.name)
    except KeyError as exc:
        raise ConfigError(f"model.name: {exc.args[0]}") from None
    check_options(factory, cfg.options, "model.options", cfg.name)
    from aioir.models.guard import check_model_size

    check_model_size(cfg.name, cfg.options, source="model.options")
    if cfg.pretrained:
        return models.load_pretrained(cfg.name, cfg.pretrained, **cfg.options)
    return models.build(cfg.name, **cfg.options)


def build_strategy(cfg: StrategyConfig, num_tasks: int):
    """The loss-balancing strategy for ``num_tasks`` tasks."""
    from aioir import strategies

    try:
        factory = strategies.STRATEGIES.get(cfg.name)
    except KeyError as exc:
        raise ConfigError(f"strategy.name: {exc.args[0]}") from None
    check_options(factory, cfg.options, "strategy.options", cfg.name, reserved=("num_tasks",))
    return strategies.build(cfg.name, num_tasks=num_tasks, **cfg.options)


def build_extra_losses(specs) -> dict[str, nn.Module]:
    """Extra (pred, gt) losses by name, frozen (never optimised)."""
    from aioir import losses

    out: dict[str, nn.Module] = {}
    for i, spec in enumerate(specs):
        if spec.name in out:
            raise ConfigError(f"train.extra_losses lists {spec.name!r} twice")
        try:
            factory = losses.LOSSES.get(spec.name)
        except KeyError as exc:
            raise ConfigError(f"train.extra_losses.{i}.name: {exc.args[0]}") from None
        check_options(factory, spec.options, f"train.extra_losses.{i}.options", spec.name)
        module = losses.build(spec.name, **spec.options)
        for p in module.parameters():
            p.requires_grad_(False)
        out[spec.name] = module
    return out


def build_optimizer(cfg: OptimConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Adam or AdamW."""
    kwargs = dict(lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(params, **kwargs)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, **kwargs)
    raise ConfigError(f"optim.name: unknown optimizer {cfg.name!r}; known: adam, adamw")


# ---------------------------------------------------------------------------- data
def resolve_setting(cfg: RunConfig):
    """The run's :class:`aioir.settings.Setting`: ``data.setting`` looked up (a name or a YAML
    file) and instantiated for ``data.tasks``; ``data.root`` is required when it reads files.

    >>> from aioir.config.schema import RunConfig
    >>> cfg = RunConfig()
    >>> resolve_setting(cfg).task_names
    ('sr', 'blur', 'noise', 'jpeg', 'rain', 'haze', 'dark')
    >>> cfg.data.setting, cfg.data.tasks = "three_task", ["derain", "dehaze"]
    >>> resolve_setting(cfg)
    Traceback (most recent call last):
    ...
    aioir.config.errors.ConfigError: data.root must be set: setting 'three_task' reads its files under a dataset root (see docs/datasets.md)
    """
    from aioir.settings import get_setting

    try:
        setting = get_setting(cfg.data.setting).for_tasks(cfg.data.tasks)
    except (ValueError, FileNotFoundError) as exc:
        text = str(exc)
        raise ConfigError(text if text.startswith("data.") else f"data.setting: {text}") from None
    if setting.needs_root and not cfg.data.root:
        raise ConfigError(f"data.root must be set: setting {setting.name!r} reads its files under "
                          "a dataset root (see docs/datasets.md)")
    return setting


def _root(cfg_root: str | None) -> Path:
    return Path(cfg_root) if cfg_root else Path(".")


class _Sources:
    """Clean-image sources shared by the components that read the same folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, Any] = {}

    def get(self, spec) -> Any:
        from aioir.data.sources import EmbeddedPhotos, FolderSource

        split = spec.embedded_split
        key = f"embedded:{split}" if split is not None else str(self.root / str(spec.clean))
        if key not in self._made:
            self._made[key] = EmbeddedPhotos(split) if split is not None else FolderSource(key)
        return self._made[key]


def _problems(setting, spec, root: Path, problems: list[str]) -> str:
    head = "\n  ".join(problems[:10])
    more = f"\n  ... ({len(problems) - 10} more)" if len(problems) > 10 else ""
    return (f"setting {setting.name!r}, source {spec.column or spec.task!r} under {root}:\n  "
            f"{head}{more}\nrun `aioir data check {setting.name} --root {root}`")


def train_components(setting, root: str | Path | None, data: DataConfig
                     ) -> tuple[list[Any], list[int], list[int]]:
    """The training components of ``setting`` under ``root`` (one per training source), with
    their task ids and repeat factors. A source with problems raises ``ValueError`` listing
    them (``aioir data check`` shows the whole picture)."""
    from aioir.data.depth import DepthFolder
    from aioir.data.paired import PairedDataset
    from aioir.data.synthetic import SyntheticTask
    from aioir.settings.sources import collect, pseudo_depth_note

    root = _root(root)
    sources = _Sources(root)
    comps, ids, repeats = [], [], []
    for spec in setting.train:
        col = collect(spec, root)
        if not col.ok:
            raise ValueError(_problems(setting, spec, root, col.problems))
        if spec.kind == "synthetic":
            note = pseudo_depth_note(spec)
            if note:
                logging.getLogger("aioir").info("data: %s", note)
            source = sources.get(spec)
            depth = (DepthFolder(root / str(spec.depth), source.names) if spec.depth else None)
            comps.append(SyntheticTask(source, str(spec.degrade), data.patch_size, dist=data.dist,
                                       augment=data.augment, quantize=data.quantize,
                                       views=data.views, depth=depth))
        else:
            comps.append(PairedDataset(col.pairs, patch_size=data.patch_size,
                                       augment=data.augment, views=data.views))
        ids.append(setting.task_names.index(spec.task))
        repeats.append(spec.repeat)
    return comps, ids, repeats


def train_dataset(cfg: RunConfig, setting, stages=None) -> torch.utils.data.Dataset:
    """The training stream: sample ``i`` is a pure function of ``(train.seed, i)``.

    ``stages`` with task subsets restrict the mix by step range
    (:func:`aioir.engine.stages.task_segments`). With ``data.cache`` the stream is materialised
    once into that folder and shared by every run with the same data.
    """
    from aioir.data.mixing import Segment, TaskMix

    data = cfg.data
    length = max(cfg.train.steps, 1) * data.batch_size
    comps, ids, repeats = train_components(setting, data.root, data)
    segments = None
    plan: list = []
    if stages is not None:
        from aioir.engine.stages import task_segments

        plan = task_segments(stages, list(setting.task_names), data.batch_size)
        segments = [Segment(start, tuple(k for k, t in enumerate(ids)
                                         if setting.task_names[t] in tasks))
                    for start, tasks in plan]
    dataset = TaskMix(comps, data.balance, cfg.train.seed, length,
                      repeats=repeats if data.balance == "concat" else None, task_ids=ids,
                      segments=segments)
    if not data.cache:
        return dataset
    from aioir.config import to_dict
    from aioir.data.cache import cache_key, materialize

    fields = {k: v for k, v in to_dict(data).items()
              if k not in ("num_workers", "cache", "cache_workers")}
    key = cache_key(fields, list(setting.task_names), [list(p[1]) for p in plan]
                    + [p[0] for p in plan], cfg.train.seed, length)
    return materialize(dataset, length, data.cache, workers=data.cache_workers, key=key,
                       progress=cfg.train.progress)


def build_test_sets(setting, root: str | Path | None, *, groups: Iterable[str] | None = None,
              max_size: int | None = None, max_images: int | None = None,
              tile: int | None = None, missing: str = "raise") -> tuple[list[Any], list[str]]:
    """``(test sets, notes)`` of ``setting`` under ``root``, in the setting's order.

    ``groups``: the test groups to include (``None``: all). A missing optional set is left out
    with a note; a missing required one raises ``FileNotFoundError`` naming the expected
    folder, or with ``missing="skip"`` (periodic validation) is left out with a note.
    ``max_size``/``max_images`` cap every set; ``tile`` cuts every synthetic test image into
    independently degraded tiles (see :mod:`aioir.data.testsets`); a real (paired) test set is
    never tiled: its pairs are the dataset's, so ``tile`` with a paired set raises ``ValueError``.
    """
    from aioir.data.testsets import PairedTestSet, SyntheticTestSet
    from aioir.settings.sources import collect

    root = _root(root)
    sources = _Sources(root)
    wanted = None if groups is None else set(groups)
    out, notes = [], []
    for spec in setting.test:
        if wanted is not None and spec.group not in wanted:
            continue
        col = collect(spec, root)
        if col.problems:
            missing_only = all(p.startswith(("missing folder", "missing list file"))
                               for p in col.problems)
            if missing_only and (spec.optional or missing == "skip"):
                notes.append(f"test set {spec.column!r} not found under {root} "
                             f"({col.problems[0]}); skipped")
                continue
            raise FileNotFoundError(_problems(setting, spec, root, col.problems))
        common = dict(column=spec.column, group=spec.group, max_size=max_size,
                      multiple=setting.crop_multiple, max_images=max_images)
        if spec.kind == "synthetic":
            index = setting.task_names.index(spec.task) if spec.task in setting.task_names else 0
            out.append(SyntheticTestSet(sources.get(spec), spec.task, seed=spec.seed, key=spec.key,
                                        task_index=index, degrade_task=str(spec.degrade),
                                        dist=spec.dist, tile=tile, **common))
        else:
            if tile is not None:
                raise ValueError(f"val.tile={tile}: test set {spec.column!r} of setting "
                                 f"{setting.name!r} is a real paired set; only synthetic test "
                                 "sets are cut into tiles (set val.tile: null)")
            names = [col.rel(lq) for lq, _ in col.pairs]
            out.append(PairedTestSet(col.pairs, task=spec.task, names=names, **common))
    return out, notes


def validation_sets(cfg: RunConfig, setting=None) -> tuple[list[Any], list[str]]:
    """The test sets a run validates on (``val.*``): what the Trainer and ``aioir eval CKPT``
    (without ``--setting``) measure."""
    if not cfg.val.enabled:
        return [], []
    setting = setting or resolve_setting(cfg)
    return build_test_sets(setting, cfg.data.root, groups=cfg.val.groups, max_size=cfg.val.max_size,
                     max_images=cfg.val.max_images, tile=cfg.val.tile, missing="skip")


def val_protocol(cfg: RunConfig, setting):
    """``val.protocol`` or the setting's protocol."""
    from aioir.metrics import get_protocol

    return get_protocol(cfg.val.protocol) if cfg.val.protocol else setting.protocol


# ---------------------------------------------------------------------------- the run
@dataclass
class RunParts:
    """Everything :class:`aioir.engine.trainer.Trainer` trains, built by :func:`build_run`."""

    cfg: RunConfig
    device: torch.device
    setting: Any
    task_names: list[str]
    model: nn.Module
    ema: Any
    strategy: Any
    module: nn.Module
    optimizer: torch.optim.Optimizer
    stages: list[Any]
    train_data: torch.utils.data.Dataset
    val_sets: list[Any] = field(default_factory=list)
    val_notes: list[str] = field(default_factory=list)
    protocol: Any = None


def build_run(cfg: RunConfig, device: str | torch.device | None = None) -> RunParts:
    """Check ``cfg`` and build every part of the run on ``device`` (default:
    ``train.device``); nothing is written anywhere. Seeds torch with ``train.seed`` first,
    so the initial weights are a function of the config."""
    from aioir.config.schema import check
    from aioir.engine.ema import ModelEMA
    from aioir.engine.stages import resolve_stages
    from aioir.engine.trainer import TrainingModule, resolve_device
    from aioir.models.hooks import hooks

    check(cfg)
    setting = resolve_setting(cfg)
    task_names = list(setting.task_names)
    device = (torch.device(device) if device is not None
              else resolve_device(cfg.train.device, "train.device"))
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model).to(device)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    needs = hooks(model).train_views
    if needs > cfg.data.views:
        raise ConfigError(f"data.views: {cfg.model.name} trains on {needs} views of each "
                          f"degraded image; set data.views: {needs}")
    # the EMA copy is taken before the strategy hooks the model, so it stays a plain backbone
    ema = ModelEMA(model, cfg.train.ema_decay) if cfg.train.ema_decay > 0 else None
    strategy = build_strategy(cfg.strategy, len(task_names))
    strategy.task_names = list(task_names)  # for the strategy's messages (warnings name tasks)
    strategy.attach(model)
    strategy.to(device)
    module = TrainingModule(model, strategy, build_extra_losses(cfg.train.extra_losses)).to(device)
    optimizer = build_optimizer(cfg.optim, [p for p in module.parameters() if p.requires_grad])
    stages = resolve_stages(cfg, model, task_names)
    train_data = train_dataset(cfg, setting, stages)
    val_sets, notes = validation_sets(cfg, setting)
    return RunParts(cfg, device, setting, task_names, model, ema, strategy, module, optimizer,
                    stages, train_data, val_sets, notes, val_protocol(cfg, setting))
