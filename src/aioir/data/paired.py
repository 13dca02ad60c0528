"""Datasets of degraded/clean file pairs (Rain100L, RESIDE, GoPro, LOL, SIDD, ...).

LQ and GT files are matched by a rule (``match``):

* ``"name"`` — identical file names (``0001.png`` <-> ``0001.png``);
* ``"stem"`` — identical names up to the extension (``0001.jpg`` <-> ``0001.png``);
* ``(pattern, replacement)`` — ``re.fullmatch(pattern, lq_stem).expand(replacement)`` is the GT
  stem, e.g. ``(r"rain-(\\d+)", r"norain-\\1")`` (Rain100L) or ``(r"(\\d+)_.*", r"\\1")``
  (RESIDE ``0001_0.8_0.2.jpg`` -> ``0001.jpg``);
* a callable ``lq_stem -> gt_stem or None``.

Files are matched by their base name wherever they sit under the folders (RESIDE keeps its hazy
images in ``part1..part4``). Every problem — LQ without GT, GT never used, a GT name matching
several files, LQ/GT of different sizes, unreadable headers — goes into a
:class:`PairingReport`; by default any problem raises :class:`PairingError` with a readable
summary; ``on_error="warn"`` logs the summary and skips the bad pairs instead (never silently).

>>> import re
>>> rule = make_matcher((r"rain-(\\d+)", r"norain-\\1"))
>>> rule("rain-12.png"), rule("snow-3.png")
('norain-12', None)
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from aioir.data.io import ImageReadError, image_size, list_images, read_image, to_tensor
from aioir.data.sampling import sample_rng
from aioir.data.synthetic import check_views, cut_views
from aioir.data.transforms import PatchSize, as_hw, dihedral, pad_to_min, random_crop

logger = logging.getLogger(__name__)

MatchRule = str | tuple[str, str] | Callable[[str], str | None]


def make_matcher(match: MatchRule) -> Callable[[str], str | None]:
    """A function mapping an LQ file name to the key its GT must have (see the module notes);
    GT keys are their names for ``"name"`` and their stems otherwise."""
    if match == "name":
        return lambda name: name
    if match == "stem":
        return lambda name: Path(name).stem
    if isinstance(match, tuple) and len(match) == 2:
        pattern, replacement = re.compile(match[0]), match[1]

        def by_regex(name: str) -> str | None:
            m = pattern.fullmatch(Path(name).stem)
            return m.expand(replacement) if m else None

        return by_regex
    if callable(match):
        return lambda name: match(Path(name).stem)
    raise ValueError(
        f"unknown match rule {match!r}: use 'name', 'stem', (pattern, replacement) or a callable"
    )


def _gt_key(match: MatchRule) -> Callable[[str], str]:
    return (lambda name: name) if match == "name" else (lambda name: Path(name).stem)


class PairingError(ValueError):
    """LQ/GT pairing found problems; ``.report`` holds the details."""

    def __init__(self, report: PairingReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass
class PairingReport:
    """The outcome of matching an LQ folder against a GT folder."""

    lq_dir: Path
    gt_dir: Path
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    unmatched_lq: list[str] = field(default_factory=list)
    unmatched_gt: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    size_mismatch: list[tuple[str, str, tuple[int, int], tuple[int, int]]] = field(
        default_factory=list
    )
    unreadable: list[str] = field(default_factory=list)
    allow_unused_gt: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (unused GT counts only unless ``allow_unused_gt``)."""
        unused = [] if self.allow_unused_gt else self.unmatched_gt
        problems = (self.unmatched_lq, unused, self.ambiguous, self.size_mismatch, self.unreadable)
        return not any(problems)

    def summary(self, limit: int = 5) -> str:
        """Counts and the first ``limit`` examples of every problem."""

        def show(items: Sequence[Any]) -> str:
            head = ", ".join(str(x) for x in items[:limit])
            return head + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")

        lines = [
            f"pairing {self.lq_dir} (LQ) with {self.gt_dir} (GT): {len(self.pairs)} valid pairs"
        ]
        if self.unmatched_lq:
            n = len(self.unmatched_lq)
            lines.append(f"  {n} LQ files without a GT: {show(self.unmatched_lq)}")
        if self.unmatched_gt:
            note = " (allowed)" if self.allow_unused_gt else ""
            n = len(self.unmatched_gt)
            lines.append(f"  {n} GT files matched by no LQ{note}: {show(self.unmatched_gt)}")
        if self.ambiguous:
            n = len(self.ambiguous)
            lines.append(f"  {n} LQ files matching several GT files: {show(self.ambiguous)}")
        if self.size_mismatch:
            sizes = [
                f"{a} {ha}x{wa} vs {b} {hb}x{wb}" for a, b, (ha, wa), (hb, wb) in self.size_mismatch
            ]
            lines.append(f"  {len(self.size_mismatch)} pairs of different sizes: {show(sizes)}")
        if self.unreadable:
            lines.append(f"  {len(self.unreadable)} unreadable files: {show(self.unreadable)}")
        return "\n".join(lines)


def pair_folders(
    lq_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    match: MatchRule = "name",
    recursive: bool = True,
    check_sizes: bool = True,
    allow_unused_gt: bool = False,
) -> PairingReport:
    """Match the images of ``lq_dir`` with those of ``gt_dir`` and report every problem."""
    lq_root, gt_root = Path(lq_dir), Path(gt_dir)
    lq_files = list_images(lq_root, recursive)
    gt_files = list_images(gt_root, recursive)
    report = PairingReport(lq_root, gt_root, allow_unused_gt=allow_unused_gt)
    lq_rule, gt_rule = make_matcher(match), _gt_key(match)
    by_key: dict[str, list[Path]] = {}
    for g in gt_files:
        by_key.setdefault(gt_rule(g.name), []).append(g)
    used: set[Path] = set()
    for f in lq_files:
        rel = f.relative_to(lq_root).as_posix()
        key = lq_rule(f.name)
        candidates = by_key.get(key, []) if key is not None else []
        if not candidates:
            report.unmatched_lq.append(rel)
        elif len(candidates) > 1:
            names = ", ".join(c.relative_to(gt_root).as_posix() for c in candidates)
            report.ambiguous.append(f"{rel} -> [{names}]")
            used.update(candidates)
        else:
            report.pairs.append((f, candidates[0]))
            used.add(candidates[0])
    report.unmatched_gt = [g.relative_to(gt_root).as_posix() for g in gt_files if g not in used]
    if check_sizes:
        good = []
        for lq, gt in report.pairs:
            try:
                a, b = image_size(lq), image_size(gt)
            except ImageReadError as exc:
                report.unreadable.append(str(exc))
                continue
            if a != b:
                report.size_mismatch.append(
                    (lq.relative_to(lq_root).as_posix(), gt.relative_to(gt_root).as_posix(), a, b)
                )
            else:
                good.append((lq, gt))
        report.pairs = good
    return report


class PairedDataset(torch.utils.data.Dataset):
    """LQ/GT file pairs as samples ``{"lq", "gt", "task_id"}`` (plus ``"lq_views"`` when
    ``views >= 2``); the paired component of a training mix and the reader of paired test sets.

    Test use (default): full images, no augmentation. Training use: ``patch_size`` gives the same
    random window of LQ and GT, ``augment`` the same flip/rotation, all drawn from
    ``default_rng([seed, i])``; ``length`` (default: the number of pairs) may exceed the number of
    pairs, in which case sample ``i`` uses pair ``i % n`` with its own fresh window. With
    ``views >= 2`` (AirNet's loader) the views are patch-size crops of the whole degraded image.
    ``names`` label the pairs (default: the LQ file names).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        task_id: int = 0,
        *,
        patch_size: PatchSize = None,
        augment: bool = False,
        seed: int = 0,
        length: int | None = None,
        cache: bool = False,
        views: int = 1,
        names: Sequence[str] | None = None,
    ) -> None:
        if not pairs:
            raise ValueError("no LQ/GT pairs")
        self.pairs = [(Path(a), Path(b)) for a, b in pairs]
        self.names = list(names) if names is not None else [a.name for a, _ in self.pairs]
        self.task_id = int(task_id)
        self.patch_size = patch_size
        self.augment = augment
        self.seed = int(seed)
        self.length = len(self.pairs) if length is None else int(length)
        self.cache = cache
        self.views = check_views(views, patch_size)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.length

    def load_pair(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoded ``(lq, gt)`` of pair ``k`` (HWC float32), checked to be of equal size."""
        if k in self._cache:
            return self._cache[k]
        lq_path, gt_path = self.pairs[k]
        lq, gt = read_image(lq_path), read_image(gt_path)
        if lq.shape != gt.shape:
            raise ValueError(f"LQ {lq_path} is {lq.shape[:2]} but GT {gt_path} is {gt.shape[:2]}")
        if self.cache:
            self._cache[k] = (lq, gt)
        return lq, gt

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        """Sample of pair ``index % n`` with all random choices drawn from ``rng``."""
        lq, gt = self.load_pair(index % len(self.pairs))
        if self.views >= 2:  # patch-size crops of the whole degraded image (AirNet's loader)
            if self.augment:
                k = int(rng.integers(8))
                lq, gt = dihedral(lq, k), dihedral(gt, k)
            if self.patch_size is None:
                raise ValueError(f"{self.views} views need a patch size (data.patch_size)")
            size = as_hw(self.patch_size)
            lq, gt = pad_to_min(lq, *size), pad_to_min(gt, *size)
            return {**cut_views(lq, gt, size, self.views, rng), "task_id": self.task_id}
        if self.patch_size is not None:
            lq, gt = random_crop([lq, gt], self.patch_size, rng)
        if self.augment:
            k = int(rng.integers(8))
            lq, gt = dihedral(lq, k), dihedral(gt, k)
        return {"lq": to_tensor(lq), "gt": to_tensor(gt), "task_id": self.task_id}

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.length:
            raise IndexError(f"sample index {index} out of range for length {self.length}")
        return self.sample(index, sample_rng(self.seed, index))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": {}}


class PairedFolderDataset(PairedDataset):
    """:class:`PairedDataset` of the pairs :func:`pair_folders` finds in two folders.

    ``on_error``: ``"raise"`` (default) raises :class:`PairingError` on any pairing problem,
    ``"warn"`` logs the report and keeps the valid pairs. ``report`` keeps the pairing outcome;
    ``names`` are the LQ paths relative to ``lq_dir``.
    """

    def __init__(
        self,
        lq_dir: str | os.PathLike[str],
        gt_dir: str | os.PathLike[str],
        task_id: int = 0,
        match: MatchRule = "name",
        *,
        on_error: Literal["raise", "warn"] = "raise",
        allow_unused_gt: bool = False,
        recursive: bool = True,
        check_sizes: bool = True,
        **options: Any,
    ) -> None:
        if on_error not in ("raise", "warn"):
            raise ValueError(f"on_error must be 'raise' or 'warn', got {on_error!r}")
        self.report = pair_folders(lq_dir, gt_dir, match, recursive, check_sizes, allow_unused_gt)
        if not self.report.pairs or (not self.report.ok and on_error == "raise"):
            raise PairingError(self.report)
        if not self.report.ok:
            logger.warning("%s\n  -> skipping the problem files above", self.report.summary())
        names = [lq.relative_to(self.report.lq_dir).as_posix() for lq, _ in self.report.pairs]
        super().__init__(self.report.pairs, task_id, names=names, **options)
