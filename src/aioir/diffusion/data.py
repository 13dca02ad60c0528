"""Where the diffusion commands get their images: the one place that reads a run's data.

Every function here goes through the run configuration's data section and the engine's own
builders, so pairs, clean batches and validation samples come from exactly the data a run
trains and validates on (the embedded photos with the 7 MiOIR tasks by default, any setting).
Kept in one small module so that a change of the data path touches only this file.
"""

from __future__ import annotations

import copy
from typing import Any, Iterator

import torch

from aioir.config.schema import RunConfig


def _dataset(cfg: RunConfig, length: int, seed: int) -> tuple[Any, list[str]]:
    from aioir.engine import builders

    cfg = copy.deepcopy(cfg)
    cfg.train.seed = int(seed)
    cfg.data.cache = None
    cfg.data.views = 1
    return builders.build_train_dataset(cfg, total_steps=max(1, length // cfg.data.batch_size + 1)
                                        ), builders.task_names(cfg)


def task_pairs(cfg: RunConfig, per_task: int, *, seed: int = 0, patch_size: int | None = None,
               max_draws: int = 100_000) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``per_task`` training pairs ``(lq, gt)`` (N, 3, P, P) of every task of the run's data,
    drawn from the training stream at ``seed`` (patch ``patch_size`` or ``data.patch_size``)."""
    if per_task < 1:
        raise ValueError(f"need at least one pair per task, got {per_task}")
    cfg = copy.deepcopy(cfg)
    if patch_size is not None:
        cfg.data.patch_size = int(patch_size)
    cfg.data.augment = False
    names = None
    length = per_task * 64
    ds, names = _dataset(cfg, length, seed)
    found: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {n: [] for n in names}
    for i in range(min(len(ds), max_draws)):
        s = ds[i]
        task = names[int(s["task_id"])]
        if len(found[task]) < per_task:
            found[task].append((torch.as_tensor(s["lq"]), torch.as_tensor(s["gt"])))
        if all(len(v) >= per_task for v in found.values()):
            break
    short = [n for n, v in found.items() if len(v) < per_task]
    if short:
        raise ValueError(f"could not draw {per_task} pairs for task(s) {short}")
    return {n: (torch.stack([p[0] for p in v]), torch.stack([p[1] for p in v]))
            for n, v in found.items()}


def clean_batches(cfg: RunConfig, count: int, *, seed: int = 1) -> Iterator[torch.Tensor]:
    """``count`` batches of clean images (the ground truths of the run's training stream at
    ``seed``), ``data.batch_size`` each."""
    b = cfg.data.batch_size
    ds, _ = _dataset(cfg, count * b, seed)
    for k in range(count):
        yield torch.stack([torch.as_tensor(ds[k * b + j]["gt"]) for j in range(b)])


def validation_samples(cfg: RunConfig) -> list[tuple[Any, Any, str, str]]:
    """The run's validation samples ``(lq, gt, task, name)`` (empty when it has none)."""
    from aioir.engine import builders

    cfg = copy.deepcopy(cfg)
    if cfg.val.source == "none":
        cfg.val.source = "embedded"
    return list(builders.build_val_samples(cfg, builders.task_names(cfg)) or [])


def setting_test_groups(setting: str, root: str
                        ) -> list[tuple[str, list[str], Any, dict[str, str]]]:
    """The test sets of a benchmark setting under ``root``, per group:
    ``(group, columns, samples, column -> task)``; a sample's third field is its column."""
    import itertools

    from aioir.settings import get_setting

    s = get_setting(setting)
    out = []
    for group in s.groups:
        sets = s.test_sets(root, group)
        if not sets:
            continue
        task_of = {spec.column: spec.task for spec in s.test if spec.group == group}
        out.append((group, [c for c, _ in sets],
                    itertools.chain.from_iterable(ts for _, ts in sets), task_of))
    return out
