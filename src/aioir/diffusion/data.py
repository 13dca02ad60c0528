"""Where the diffusion commands get their training images: the run's own training stream.

Pairs for timestep matching and clean batches for the parameter importance of L_reg come from
:func:`aioir.settings.assemble.train_dataset` on the run's setting (:func:`~aioir.settings.assemble.
resolve_setting`: ``data.setting``, ``data.root``, ``data.tasks``), i.e. exactly the data a run
trains on (the embedded photos with the 7 MiOIR tasks by default, any setting). Test images are
not read here: every evaluation of a diffusion network is :func:`aioir.engine.evaluation.evaluate`
on the run's validation sets or a setting's test sets, as for any other network.

>>> from aioir.config.schema import RunConfig
>>> cfg = RunConfig()
>>> cfg.data.tasks, cfg.data.batch_size = ["noise", "dark"], 2
>>> pairs = task_pairs(cfg, 1, patch_size=16)
>>> {task: tuple(lq.shape) for task, (lq, gt) in pairs.items()}
{'noise': (1, 3, 16, 16), 'dark': (1, 3, 16, 16)}
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import torch

from aioir.config.schema import RunConfig
from aioir.settings.assemble import resolve_setting, train_dataset


def _dataset(cfg: RunConfig, length: int, seed: int) -> tuple[Any, list[str]]:
    """The run's training stream (whole task mix, no stage subsets) of at least ``length``
    samples at ``seed``, and its task names."""
    cfg = copy.deepcopy(cfg)
    cfg.train.seed = int(seed)
    cfg.train.steps = max(1, length // cfg.data.batch_size + 1)
    cfg.data.cache = None
    cfg.data.views = 1
    setting = resolve_setting(cfg)
    return train_dataset(cfg, setting), list(setting.task_names)


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
    ds, names = _dataset(cfg, per_task * 64, seed)
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

