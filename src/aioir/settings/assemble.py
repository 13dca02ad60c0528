"""Datasets assembled from a setting: the one place that turns a run's ``data.*`` and its
:class:`~aioir.settings.Setting` into the training stream and the test sets. The engine
(:func:`aioir.engine.build.build_run`), ``aioir eval``, the report, the bench and the diffusion
workflow all take their data from here.

::

    cfg.data.setting ──> resolve_setting(cfg) ──> Setting (tasks, sources, test sets, protocol)
    Setting ──> train_components ──> SyntheticTask | PairedDataset, one per training source
            ──> train_dataset    ──> TaskMix (balanced / random / concat; stage segments)
                                     [data.cache: materialised once]
            ──> build_test_sets  ──> SyntheticTestSet | PairedTestSet (caps, tiles, groups)
    cfg.val ──> validation_sets, val_protocol

>>> from aioir.config.schema import RunConfig
>>> cfg = RunConfig()
>>> cfg.data.tasks, cfg.train.steps, cfg.data.batch_size = ["noise", "dark"], 2, 2
>>> setting = resolve_setting(cfg)
>>> stream = train_dataset(cfg, setting)
>>> len(stream), sorted(stream[0])
(4, ['gt', 'lq', 'task_id'])
>>> sets, notes = validation_sets(cfg, setting)
>>> [s.column for s in sets], val_protocol(cfg, setting).name
(['noise', 'dark'], 'mioir')
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from aioir.config import to_dict
from aioir.config.errors import ConfigError
from aioir.config.schema import DataConfig, RunConfig
from aioir.data.cache import cache_key, materialize
from aioir.data.depth import DepthFolder
from aioir.data.mixing import Segment, TaskMix
from aioir.data.paired import PairedDataset
from aioir.data.sources import EmbeddedPhotos, FolderSource
from aioir.data.synthetic import SyntheticTask
from aioir.data.testsets import PairedTestSet, SyntheticTestSet
from aioir.metrics import Protocol, get_protocol
from aioir.settings.catalog import get_setting
from aioir.settings.sources import collect, pseudo_depth_note
from aioir.settings.spec import Setting, SourceSpec

__all__ = ["resolve_setting", "train_components", "train_dataset", "build_test_sets",
           "final_groups", "validation_sets", "val_protocol"]


def resolve_setting(cfg: RunConfig) -> Setting:
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
    """  # noqa: E501 - the doctest's expected output is one line
    try:
        setting = get_setting(cfg.data.setting).for_tasks(cfg.data.tasks)
    except (ValueError, FileNotFoundError) as exc:
        text = str(exc)
        raise ConfigError(text if text.startswith("data.") else f"data.setting: {text}") from None
    if setting.needs_root and not cfg.data.root:
        raise ConfigError(f"data.root must be set: setting {setting.name!r} reads its files under "
                          "a dataset root (see docs/datasets.md)")
    return setting


def _root(cfg_root: str | Path | None) -> Path:
    return Path(cfg_root) if cfg_root else Path(".")


class _Sources:
    """Clean-image sources shared by the components that read the same folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, Any] = {}

    def get(self, spec) -> Any:
        split = spec.embedded_split
        key = f"embedded:{split}" if split is not None else str(self.root / str(spec.clean))
        if key not in self._made:
            self._made[key] = EmbeddedPhotos(split) if split is not None else FolderSource(key)
        return self._made[key]


def _problems(setting: Setting, spec: SourceSpec, root: Path, problems: list[str]) -> str:
    head = "\n  ".join(problems[:10])
    more = f"\n  ... ({len(problems) - 10} more)" if len(problems) > 10 else ""
    return (f"setting {setting.name!r}, source {spec.column or spec.task!r} under {root}:\n  "
            f"{head}{more}\nrun `aioir data check {setting.name} --root {root}`")


def train_components(setting: Setting, root: str | Path | None, data: DataConfig
                     ) -> tuple[list[Any], list[int], list[int]]:
    """The training components of ``setting`` under ``root`` (one per training source), with
    their task ids and repeat factors. A source with problems raises ``ValueError`` listing
    them (``aioir data check`` shows the whole picture)."""
    where = _root(root)
    sources = _Sources(where)
    comps: list[Any] = []
    ids: list[int] = []
    repeats: list[int] = []
    for spec in setting.train:
        col = collect(spec, where)
        if not col.ok:
            raise ValueError(_problems(setting, spec, where, col.problems))
        if spec.kind == "synthetic":
            note = pseudo_depth_note(spec)
            if note:
                logging.getLogger("aioir").info("data: %s", note)
            source = sources.get(spec)
            depth = (DepthFolder(where / str(spec.depth), source.names) if spec.depth else None)
            comps.append(SyntheticTask(source, str(spec.degrade), data.patch_size, dist=data.dist,
                                       augment=data.augment, quantize=data.quantize,
                                       views=data.views, depth=depth,
                                       classifier_copies=data.classifier_copies))
        else:
            if data.classifier_copies:
                raise ValueError(f"data.classifier_copies={data.classifier_copies}: training set "
                                 f"{spec.column!r} of setting {setting.name!r} is a real paired "
                                 "set; the classifier's variants are made from clean photographs "
                                 "(synthetic sets only; set data.classifier_copies: 0)")
            comps.append(PairedDataset(col.pairs, patch_size=data.patch_size,
                                       augment=data.augment, views=data.views))
        ids.append(setting.task_names.index(spec.task))
        repeats.append(spec.repeat)
    return comps, ids, repeats


def train_dataset(cfg: RunConfig, setting: Setting,
                  plan: Sequence[tuple[int, Sequence[str]]] | None = None,
                  ) -> torch.utils.data.Dataset:
    """The training stream: sample ``i`` is a pure function of ``(train.seed, i)``.

    ``plan``: ``[(first sample index, tasks)]``, where the stream changes its task subset (the
    run's stages with task subsets, :func:`aioir.engine.stages.task_segments`); ``None``: every
    task throughout. With ``data.cache`` the stream is materialised once into that folder and
    shared by every run with the same data.
    """
    data = cfg.data
    length = max(cfg.train.steps, 1) * data.batch_size
    comps, ids, repeats = train_components(setting, data.root, data)
    plan = list(plan or [])
    segments = [Segment(start, tuple(k for k, t in enumerate(ids)
                                     if setting.task_names[t] in tasks))
                for start, tasks in plan] or None
    dataset = TaskMix(comps, data.balance, cfg.train.seed, length,
                      repeats=repeats if data.balance == "concat" else None, task_ids=ids,
                      segments=segments)
    if not data.cache:
        return dataset
    fields = {k: v for k, v in to_dict(data).items()
              if k not in ("num_workers", "cache", "cache_workers")}
    key = cache_key(fields, list(setting.task_names), [list(p[1]) for p in plan]
                    + [p[0] for p in plan], cfg.train.seed, length)
    return materialize(dataset, length, data.cache, workers=data.cache_workers, key=key,
                       progress=cfg.train.progress)


def build_test_sets(setting: Setting, root: str | Path | None, *,
                    groups: Iterable[str] | None = None, max_size: int | None = None,
                    max_images: int | None = None, tile: int | None = None,
                    missing: str = "raise", group_max_size: Mapping[str, int | None] | None = None,
                    ) -> tuple[list[Any], list[str]]:
    """``(test sets, notes)`` of ``setting`` under ``root``, in the setting's order.

    ``groups``: the test groups to include (``None``: all). A missing optional set is left out
    with a note; a missing required one raises ``FileNotFoundError`` naming the expected
    folder, or with ``missing="skip"`` (periodic validation) is left out with a note.
    ``max_size``/``max_images`` cap every set (``group_max_size``: a group's own
    ``max_size``); a set is cropped to a multiple of its ``crop_multiple`` (default: the
    setting's); ``tile`` cuts every synthetic test image into
    independently degraded tiles (see :mod:`aioir.data.testsets`); a real (paired) test set is
    never tiled: its pairs are the dataset's, so ``tile`` with a paired set raises ``ValueError``.
    """
    where = _root(root)
    sources = _Sources(where)
    wanted = None if groups is None else set(groups)
    out: list[Any] = []
    notes: list[str] = []
    for spec in setting.test:
        if wanted is not None and spec.group not in wanted:
            continue
        col = collect(spec, where)
        if col.problems:
            missing_only = all(p.startswith(("missing folder", "missing list file"))
                               for p in col.problems)
            if missing_only and (spec.optional or missing == "skip"):
                notes.append(f"test set {spec.column!r} not found under {where} "
                             f"({col.problems[0]}); skipped")
                continue
            raise FileNotFoundError(_problems(setting, spec, where, col.problems))
        common: dict[str, Any] = dict(
            column=spec.column, group=spec.group,
            max_size=(group_max_size or {}).get(spec.group, max_size),
            multiple=spec.crop_multiple or setting.crop_multiple, max_images=max_images)
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


def final_groups(cfg: RunConfig) -> list[str]:
    """The test groups of a run's evaluation at the end of training: ``val.final_groups``, else
    ``val.groups`` (the periodic validation's).

    >>> from aioir.config.schema import RunConfig
    >>> cfg = RunConfig()
    >>> final_groups(cfg)
    ['main']
    >>> cfg.val.final_groups = ["main", "whole"]
    >>> final_groups(cfg)
    ['main', 'whole']
    """
    return list(cfg.val.groups if cfg.val.final_groups is None else cfg.val.final_groups)


def validation_sets(cfg: RunConfig, setting: Setting | None = None, *,
                    groups: Sequence[str] | None = None) -> tuple[list[Any], list[str]]:
    """The test sets a run validates on (``val.*``): what the Trainer and ``aioir eval CKPT``
    (without ``--setting``) measure. ``groups``: these test groups (default ``val.groups``,
    the periodic validation's; :func:`final_groups` for the final evaluation's)."""
    if not cfg.val.enabled:
        return [], []
    setting = setting or resolve_setting(cfg)
    return build_test_sets(setting, cfg.data.root,
                           groups=cfg.val.groups if groups is None else groups,
                           max_size=cfg.val.max_size, max_images=cfg.val.max_images,
                           tile=cfg.val.tile, missing="skip",
                           group_max_size=cfg.val.group_max_size)


def val_protocol(cfg: RunConfig, setting: Setting) -> Protocol:
    """``val.protocol`` or the setting's protocol."""
    return get_protocol(cfg.val.protocol) if cfg.val.protocol else setting.protocol
