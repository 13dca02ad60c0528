"""Find the files of one setting source under a dataset root, and say what is wrong with them.

:func:`collect` never raises for a bad tree: missing folders, LQ files without a GT partner,
pairs of different sizes and unreadable headers all become lines in ``Collection.problems``
(each naming the file or the expected folder), so ``aioir data check`` can list them all and
the dataset builders can refuse to train on a broken tree with the same message.

>>> import tempfile
>>> from aioir.settings.spec import SourceSpec
>>> spec = SourceSpec.from_dict({"task": "derain", "kind": "paired", "lq": "in", "gt": "gt"})
>>> c = collect(spec, tempfile.mkdtemp())
>>> c.count, c.problems[0].startswith("missing folder")
(0, True)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from aioir.data.depth import depth_file
from aioir.data.io import ImageReadError, image_size, list_images, read_image
from aioir.data.paired import pair_folders
from aioir.data.sources import EMBEDDED_SPLITS
from aioir.settings.spec import SourceSpec


@dataclass
class Collection:
    """The files of one source: ``pairs`` (paired/list kinds) or ``images`` (synthetic; the
    photograph names in ``embedded`` for ``clean: embedded:<split>``), the ``problems`` that
    make the tree unusable and ``notes`` that do not (e.g. unused GT files that the setting
    allows)."""

    spec: SourceSpec
    root: Path
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    embedded: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Number of usable pairs (or clean images)."""
        if self.spec.kind == "synthetic":
            return len(self.embedded) if self.spec.embedded_split is not None else len(self.images)
        return len(self.pairs)

    @property
    def ok(self) -> bool:
        """True when there is at least one usable item and no problem."""
        return not self.problems and self.count > 0

    def files(self) -> list[Path]:
        """Every file this source reads (both sides of each pair)."""
        return list(self.images) + [p for pair in self.pairs for p in pair]

    def rel(self, path: Path) -> str:
        """``path`` relative to the dataset root, for messages."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def collect(spec: SourceSpec, root: str | Path, check_sizes: bool = True) -> Collection:
    """The files of ``spec`` under ``root`` and every problem found (headers only, no
    decoding; see :func:`decode_check`)."""
    root = Path(root)
    col = Collection(spec, root)
    if spec.kind == "synthetic":
        _collect_clean(col)
    elif spec.kind == "list":
        _collect_list(col, check_sizes)
    elif spec.scenes:
        _collect_scenes(col, check_sizes)
    else:
        _collect_dirs(col, root / str(spec.lq), root / str(spec.gt), check_sizes)
    if not col.problems and col.count == 0:
        col.problems.append(f"no images for {spec.column!r} under {', '.join(spec.paths())}")
    return col


def _missing(col: Collection, path: Path, what: str) -> bool:
    if path.is_dir():
        return False
    col.problems.append(f"missing folder {col.rel(path)} ({what} of {col.spec.column!r})")
    return True


def pseudo_depth_note(spec: SourceSpec) -> str | None:
    """The note for a synthetic haze source without depth maps (``aioir data check`` and the
    run log say it), else None.

    >>> from types import SimpleNamespace as S
    >>> pseudo_depth_note(S(kind="synthetic", degrade="haze", depth=None, column="haze"))[:40]
    "'haze' hazes with a pseudo-depth (colour"
    """
    if spec.kind != "synthetic" or spec.degrade != "haze" or spec.depth:
        return None
    return (f"{spec.column!r} hazes with a pseudo-depth (colour attenuation prior), not real "
            "depth maps: MiOIR's train and test data used predicted depth maps; give the source "
            "`depth: FOLDER` (preset mioir7_depth reads DF2K_depth/) to use them")


def _collect_clean(col: Collection) -> None:
    note = pseudo_depth_note(col.spec)
    if note:
        col.notes.append(note)

    split = col.spec.embedded_split
    if split is not None:
        if split not in EMBEDDED_SPLITS:
            col.problems.append(f"unknown embedded split {split!r} (of {col.spec.column!r}); "
                                f"use one of {', '.join(EMBEDDED_SPLITS)}")
        else:
            col.embedded = list(EMBEDDED_SPLITS[split])
        return
    folder = col.root / str(col.spec.clean)
    if _missing(col, folder, "clean images"):
        return
    depth = col.root / str(col.spec.depth) if col.spec.depth else None
    if depth is not None and _missing(col, depth, "depth maps"):
        return
    for path in list_images(folder):
        try:
            image_size(path)
        except ImageReadError as exc:
            col.problems.append(f"unreadable {col.rel(path)}: {_cause(exc)}")
            continue
        if depth is not None:
            rel = path.relative_to(folder).as_posix()
            if depth_file(depth, rel) is None:
                col.problems.append(f"missing depth map for {col.rel(path)} (looked for "
                                    f"{col.rel(depth)}/{rel.rsplit('.', 1)[0]}.npy/.mat/image)")
                continue
        col.images.append(path)


def _cause(exc: Exception) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


def _collect_dirs(col: Collection, lq: Path, gt: Path, check_sizes: bool) -> None:
    if _missing(col, lq, "LQ images") | _missing(col, gt, "GT images"):
        return
    report = pair_folders(lq, gt, col.spec.match, check_sizes=check_sizes,
                          allow_unused_gt=col.spec.allow_unused_gt)
    lq_rel, gt_rel = col.rel(lq), col.rel(gt)
    col.pairs.extend(report.pairs)
    for name in report.unmatched_lq:
        col.problems.append(f"missing GT for {lq_rel}/{name} (looked in {gt_rel})")
    if report.unmatched_gt:
        text = f"{len(report.unmatched_gt)} GT files in {gt_rel} used by no LQ file"
        if col.spec.allow_unused_gt:
            col.notes.append(text + " (allowed)")
        else:
            col.problems.extend(f"GT {gt_rel}/{n} has no LQ partner in {lq_rel}"
                                for n in report.unmatched_gt)
    col.problems.extend(f"ambiguous GT for {lq_rel}/{a}" for a in report.ambiguous)
    for a, b, (ha, wa), (hb, wb) in report.size_mismatch:
        col.problems.append(
            f"size mismatch: {lq_rel}/{a} is {ha}x{wa} but {gt_rel}/{b} is {hb}x{wb}")
    col.problems.extend(f"unreadable {_strip_root(u, col.root)}" for u in report.unreadable)


def _strip_root(message: str, root: Path) -> str:
    text = message.removeprefix("cannot read image ")
    return text.replace(str(root) + "/", "")


def _collect_scenes(col: Collection, check_sizes: bool) -> None:
    scenes = col.root / str(col.spec.scenes)
    if _missing(col, scenes, "scene folders"):
        return
    subdirs = sorted(p for p in scenes.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        col.problems.append(f"no scene folders in {col.rel(scenes)} for {col.spec.column!r}")
    for scene in subdirs:
        _collect_dirs(col, scene / str(col.spec.lq), scene / str(col.spec.gt), check_sizes)


def _gt_line(line: str, old: str, new: str) -> str:
    parts = line.split("/")
    return "/".join(new if p == old else p for p in parts)


def _collect_list(col: Collection, check_sizes: bool) -> None:
    spec = col.spec
    base = col.root / spec.base
    list_file = base / str(spec.list)
    if not list_file.is_file():
        col.problems.append(f"missing list file {col.rel(list_file)} (of {spec.column!r})")
        return
    old, new = spec.replace  # type: ignore[misc]
    lines = [ln.strip() for ln in list_file.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        if not line or (spec.include and not re.search(spec.include, line)):
            continue
        if spec.exclude and re.search(spec.exclude, line):
            continue
        lq, gt = base / line, base / _gt_line(line, old, new)
        absent = [p for p in (lq, gt) if not p.is_file()]
        if absent:
            col.problems.extend(f"missing file {col.rel(p)} (listed in {col.rel(list_file)})"
                                for p in absent)
            continue
        if check_sizes:
            try:
                a, b = image_size(lq), image_size(gt)
            except ImageReadError as exc:
                col.problems.append(f"unreadable {_strip_root(str(exc), col.root)}")
                continue
            if a != b:
                col.problems.append(f"size mismatch: {col.rel(lq)} is {a[0]}x{a[1]} but "
                                    f"{col.rel(gt)} is {b[0]}x{b[1]}")
                continue
        col.pairs.append((lq, gt))


def decode_check(col: Collection, sample: int | None = None) -> list[str]:
    """Decode the files of ``col`` with :func:`aioir.data.io.read_image` (all of them, or
    ``sample`` evenly spaced ones) and return a problem line per file that fails."""
    files = col.files()
    if sample is not None and sample <= 0:
        return []
    if sample is not None and len(files) > sample:
        step = len(files) / sample
        files = [files[int(i * step)] for i in range(sample)]
    problems = []
    for path in files:
        try:
            read_image(path)
        except ImageReadError as exc:
            problems.append(f"undecodable {col.rel(path)}: {_cause(exc)}")
    return problems
