"""Build a run's components from its configuration, by registry name only."""

from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.nn as nn

from aioir.config.schema import DataConfig, ModelConfig, OptimConfig, RunConfig, StrategyConfig


def task_names(cfg: RunConfig) -> list[str]:
    """The run's task list (ids are positions in it)."""
    if cfg.data.source == "setting":
        from aioir.settings import get_setting

        return list(get_setting(_require(cfg.data.setting, "data.setting")).task_names)
    if not cfg.data.tasks:
        raise ValueError("data.tasks is empty: name at least one task")
    return list(cfg.data.tasks)


def _require(value: Any, key: str) -> Any:
    if value in (None, ""):
        raise ValueError(f"{key} must be set")
    return value


def build_model(cfg: ModelConfig) -> nn.Module:
    """The backbone, from released weights when ``model.pretrained`` is set."""
    from aioir import models

    if cfg.pretrained:
        return models.load_pretrained(cfg.name, cfg.pretrained, **cfg.options)
    return models.build(cfg.name, **cfg.options)


def build_strategy(cfg: StrategyConfig, num_tasks: int):
    """The loss-balancing strategy."""
    from aioir import strategies

    return strategies.build(cfg.name, num_tasks=num_tasks, **cfg.options)


def build_extra_losses(specs) -> dict[str, nn.Module]:
    """Extra (pred, gt) losses by name, frozen (never optimised)."""
    from aioir import losses

    out: dict[str, nn.Module] = {}
    for spec in specs:
        if spec.name in out:
            raise ValueError(f"train.extra_losses lists {spec.name!r} twice")
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
    raise ValueError(f"unknown optimizer {cfg.name!r}; known: adam, adamw")


def clean_source(source: str, root: str | None, split: str):
    """A clean-image source: embedded photographs or a folder."""
    from aioir.data.sources import EmbeddedPhotos, FolderSource

    if source == "embedded":
        return EmbeddedPhotos(split=split)
    if source == "folder":
        return FolderSource(_require(root, "data.root / val.root"))
    raise ValueError(f"unknown image source {source!r}")


def build_train_dataset(cfg: RunConfig, total_steps: int) -> torch.utils.data.Dataset:
    """The training dataset; sample ``i`` is a pure function of ``(train.seed, i)``.

    With ``data.cache`` the stream is materialised once into that folder and shared.
    """
    data: DataConfig = cfg.data
    length = max(total_steps, 1) * data.batch_size
    dataset = _train_dataset(cfg, length)
    if data.cache:
        from aioir.config import to_dict
        from aioir.data.cache import cache_key, materialize

        fields = {k: v for k, v in to_dict(data).items() if k not in ("num_workers", "cache",
                                                                      "cache_workers")}
        key = cache_key(fields, cfg.train.seed, length)
        return materialize(dataset, length, data.cache, workers=data.cache_workers, key=key,
                           progress=cfg.train.progress)
    return dataset


def _train_dataset(cfg: RunConfig, length: int) -> torch.utils.data.Dataset:
    data: DataConfig = cfg.data
    if data.source == "setting":
        from aioir.settings import build_train_dataset as setting_dataset

        return setting_dataset(
            _require(data.setting, "data.setting"),
            _require(data.root, "data.root"),
            data,
            seed=cfg.train.seed,
            length=length,
        )
    from aioir.data.synthetic import SyntheticTaskDataset

    return SyntheticTaskDataset(
        clean_source(data.source, data.root, "train"),
        list(data.tasks),
        patch_size=data.patch_size,
        seed=cfg.train.seed,
        length=length,
        dist=data.dist,
        augment=data.augment,
        quantize=data.quantize,
        balance="random" if data.balance == "random" else "balanced",
        views=data.views,
    )


def build_val_samples(cfg: RunConfig, tasks: list[str]):
    """Validation samples ``(lq, gt, task, name)`` degraded at ``val.seed``; None if disabled."""
    val = cfg.val
    if val.source == "none":
        return None
    if cfg.data.source == "setting":
        return None  # benchmark settings are evaluated with `aioir eval --setting`
    from aioir.data.synthetic import FixedTestSet

    source = clean_source(val.source, val.root, "test")
    test = FixedTestSet(source, tasks, seed=val.seed, max_size=val.max_size, dist=val.dist)
    return [(s.lq, s.gt, s.task, s.name) for s in test]
