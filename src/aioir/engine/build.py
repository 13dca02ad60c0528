"""One way to build a run: ``build_run(cfg)`` turns a config into the parts the Trainer trains.

::

    cfg ──> check(cfg)                                   bad values: ConfigError naming the key
        ──> resolve_setting(cfg) ──> Setting (tasks, sources, test sets, protocol)
                                 (the data: aioir.settings.assemble)
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from aioir import losses, models, strategies
from aioir.config.errors import ConfigError, suggest
from aioir.config.schema import ModelConfig, OptimConfig, RunConfig, StrategyConfig, check
from aioir.engine.ema import ModelEMA
from aioir.engine.stages import resolve_stages, task_segments
from aioir.engine.trainer import TrainingModule, resolve_device
from aioir.models.guard import check_model_size
from aioir.models.hooks import hooks
from aioir.settings.assemble import (
    final_groups,
    resolve_setting,
    train_dataset,
    val_protocol,
    validation_sets,
)


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
    """  # noqa: E501 - the doctest's expected output is one line
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
    try:
        factory = models.MODELS.get(cfg.name)
    except KeyError as exc:
        raise ConfigError(f"model.name: {exc.args[0]}") from None
    check_options(factory, cfg.options, "model.options", cfg.name)
    check_model_size(cfg.name, cfg.options, source="model.options")
    if cfg.pretrained:
        return models.load_pretrained(cfg.name, cfg.pretrained, **cfg.options)
    return models.build(cfg.name, **cfg.options)


def build_strategy(cfg: StrategyConfig, num_tasks: int) -> strategies.Strategy:
    """The loss-balancing strategy for ``num_tasks`` tasks."""
    try:
        factory = strategies.STRATEGIES.get(cfg.name)
    except KeyError as exc:
        raise ConfigError(f"strategy.name: {exc.args[0]}") from None
    check_options(factory, cfg.options, "strategy.options", cfg.name, reserved=("num_tasks",))
    return strategies.build(cfg.name, num_tasks=num_tasks, **cfg.options)


def build_extra_losses(specs) -> dict[str, nn.Module]:
    """Extra (pred, gt) losses by name, frozen (never optimised)."""
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
    if len(cfg.betas) != 2:
        raise ConfigError(f"optim.betas must be two numbers (beta1, beta2), got {cfg.betas!r}")
    betas = (float(cfg.betas[0]), float(cfg.betas[1]))
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay)
    raise ConfigError(f"optim.name: unknown optimizer {cfg.name!r}; known: adam, adamw")


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
    #: the test sets of the groups only the final evaluation measures (``val.final_groups``
    #: not in ``val.groups``)
    final_sets: list[Any] = field(default_factory=list)


def build_run(cfg: RunConfig, device: str | torch.device | None = None) -> RunParts:
    """Check ``cfg`` and build every part of the run on ``device`` (default:
    ``train.device``); nothing is written anywhere. Seeds torch with ``train.seed`` first,
    so the initial weights are a function of the config."""
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
        # nn.Module.to(memory_format=...) is documented; torch's overloads leave it out
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
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
    train_data = train_dataset(cfg, setting, task_segments(stages, task_names, cfg.data.batch_size))
    val_sets, notes = validation_sets(cfg, setting)
    final_only = [g for g in final_groups(cfg) if g not in cfg.val.groups]
    final_sets, final_notes = (validation_sets(cfg, setting, groups=final_only) if final_only
                               else ([], []))
    return RunParts(cfg, device, setting, task_names, model, ema, strategy, module, optimizer,
                    stages, train_data, val_sets, notes + final_notes, val_protocol(cfg, setting),
                    final_sets)
