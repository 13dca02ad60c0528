"""Run folders, read through what they contain, and grouped into seeds of one configuration.

A run folder is any folder holding ``config.yaml`` and ``metrics.jsonl`` (what ``aioir train``
writes, and what ``aioir demo`` and ``aioir bench`` write once per run). :func:`find_runs`
searches the given paths recursively, so the output folder of a demo or a bench is reported as a
whole. :func:`group_runs` puts the runs whose configurations differ only in the seed (and in
settings that do not change results: the run's name, worker counts, the cache folder, progress
bars) into one :class:`RunGroup`, reported as mean +/- std over its seeds.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> for seed in (0, 1):
...     d = root / f"seed{seed}"; d.mkdir()
...     _ = (d / "config.yaml").write_text(f"name: r{seed}\\nstrategy: {{name: tur}}\\n"
...                                         f"train: {{seed: {seed}}}\\n")
...     _ = (d / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\\n')
>>> groups = group_runs(find_runs([root]))
>>> [(g.label, g.seeds) for g in groups]
[('tur', [0, 1])]
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from aioir.config import from_dict, load_yaml
from aioir.config.schema import WHOLE_GROUP, RunConfig

__all__ = ["Run", "RunGroup", "find_runs", "load_run", "group_runs", "as_float", "IGNORED_KEYS"]

#: config keys that do not change a run's results: runs differing only in these (and the seed)
#: are seeds of one configuration
IGNORED_KEYS = (
    "name",
    "train.seed",
    "train.progress",
    "train.threads",
    "data.num_workers",
    "data.cache",
    "data.cache_workers",
)
_EVAL_RE = re.compile(r"^step_(\d+)\.json$")  # the trainer's validations
_CLI_EVAL_RE = re.compile(r"^eval_step_(\d+)\.json$")  # `aioir eval CHECKPOINT` (e.g. --setting)
#: no-reference scores of photographs without ground truth (`aioir eval CHECKPOINT --photos DIR`)
_PHOTOS_RE = re.compile(r"^photos_(.+)\.json$")
_CKPT_RE = re.compile(r"^step_(\d+)\.pt$")


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file; a last line cut short (no newline: what a kill or a full
    disk leaves, and ``train --resume`` drops) is skipped with a warning, any other bad line is
    named."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file of JSON records (byte {exc.start} is not "
                         "UTF-8)") from None
    lines = text.splitlines()
    # a line cut short is the last one, without its newline (each record is written whole)
    last = len(lines) if lines and not text.endswith("\n") else 0
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == last:
                logging.getLogger("aioir").warning(
                    "%s: skipped its last line, cut short (a killed run or a full disk): %.60s",
                    path, line)
                break
            raise ValueError(f"{path}, line {number}: not a JSON record ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise ValueError(f"{path}, line {number}: expected a JSON object")
        records.append(record)
    return records


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


@dataclass
class Run:
    """One run folder: its configuration (plain data), metric records and final evaluation."""

    path: Path
    config: dict[str, Any]
    records: list[dict[str, Any]]
    evaluation: dict[str, Any] | None = None
    eval_step: int | None = None
    checkpoint: Path | None = None
    #: no-reference evaluations of photo folders (``eval/photos_<name>.json``), by name
    photos: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def whole(self) -> dict[str, Any] | None:
        """The evaluation of the whole photographs: the ``whole`` test group of the final
        evaluation (``val.final_groups``, as the demo's runs measure it), else None."""
        groups = (self.evaluation or {}).get("groups") or {}
        return groups.get(WHOLE_GROUP)

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.path.name)

    @property
    def seed(self) -> int | None:
        seed = _flatten(self.config).get("train.seed")
        return int(seed) if isinstance(seed, (int, float)) else None

    @property
    def strategy(self) -> str:
        return str(_flatten(self.config).get("strategy.name", "?"))

    @property
    def tasks(self) -> list[str]:
        """Task names in id order: from the evaluation, else the config's ``data.tasks``."""
        if self.evaluation and self.evaluation.get("task_names"):
            return list(self.evaluation["task_names"])
        return list((self.config.get("data") or {}).get("tasks") or [])

    @cached_property
    def run_config(self):
        """The typed :class:`~aioir.config.schema.RunConfig` (raises a clear error if invalid)."""
        try:
            return from_dict(RunConfig, self.config)
        except ValueError as exc:
            raise ValueError(f"{self.path / 'config.yaml'}: {exc}") from exc

    def group_key(self) -> str:
        """The configuration without :data:`IGNORED_KEYS`, as canonical JSON."""
        flat = {k: v for k, v in _flatten(self.config).items() if k not in IGNORED_KEYS}
        return json.dumps(flat, sort_keys=True, default=str)


def _latest(folder: Path, pattern: re.Pattern[str]) -> tuple[int, Path] | None:
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := pattern.match(p.name))]
    return max(found) if found else None


def load_run(path: str | Path) -> Run:
    """Read one run folder (``config.yaml``, ``metrics.jsonl``, the latest evaluation, the latest
    ``checkpoints/step_*.pt``).

    The evaluation is the trainer's last validation, ``eval/step_*.json``; a run without one (a
    run on a benchmark setting) uses the latest ``eval/eval_step_*.json`` that
    ``aioir eval CHECKPOINT --setting ...`` wrote into it.
    """
    path = Path(path)
    for name in ("config.yaml", "metrics.jsonl"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path} is not a run folder: it has no {name}")
    config = load_yaml(path / "config.yaml")
    if not isinstance(config, dict):
        raise ValueError(f"{path / 'config.yaml'}: expected a mapping at the top level")
    run = Run(path=path, config=config, records=_read_jsonl(path / "metrics.jsonl"))
    latest_eval = _latest(path / "eval", _EVAL_RE) or _latest(path / "eval", _CLI_EVAL_RE)
    if latest_eval is not None:
        run.eval_step, eval_path = latest_eval
        run.evaluation = _read_json(eval_path)
    if (path / "eval").is_dir():
        for p in sorted((path / "eval").iterdir()):
            if (m := _PHOTOS_RE.match(p.name)):
                run.photos[m.group(1)] = _read_json(p)
    latest_ckpt = _latest(path / "checkpoints", _CKPT_RE)
    run.checkpoint = latest_ckpt[1] if latest_ckpt else None
    return run


def find_runs(paths: Iterable[str | Path]) -> list[Run]:
    """Every run folder at or under ``paths`` (recursively), sorted by path, each once."""
    found: dict[Path, None] = {}
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise FileNotFoundError(f"no such folder: {root}")
        if not root.is_dir():
            raise ValueError(f"{root} is not a folder (give a run folder or a folder of runs)")
        candidates = [root, *(p.parent for p in root.rglob("config.yaml"))]
        for folder in candidates:
            if (folder / "config.yaml").is_file() and (folder / "metrics.jsonl").is_file():
                found[folder.resolve()] = None
    if not found:
        raise FileNotFoundError(
            "no run folder (config.yaml + metrics.jsonl) under "
            + ", ".join(str(p) for p in paths)
        )
    return [load_run(p) for p in sorted(found)]


@dataclass
class RunGroup:
    """Runs of one configuration that differ only in the seed."""

    label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def seeds(self) -> list[int | None]:
        return [r.seed for r in self.runs]

    @property
    def first(self) -> Run:
        """The run shown in image figures (the lowest seed)."""
        return self.runs[0]

    @property
    def strategy(self) -> str:
        return self.first.strategy


def _labels(groups: Sequence[list[Run]]) -> list[str]:
    strategies = [g[0].strategy for g in groups]
    flats = [_flatten(g[0].config) for g in groups]
    labels = []
    for i, strategy in enumerate(strategies):
        same = [j for j, s in enumerate(strategies) if s == strategy]
        if len(same) == 1:
            labels.append(strategy)
            continue
        keys = sorted({k for j in same for k in flats[j]} - set(IGNORED_KEYS))
        differ = [
            k for k in keys
            if not k.startswith("strategy.") and len({repr(flats[j].get(k)) for j in same}) > 1
        ]
        parts = [f"{k}={flats[i].get(k)}" for k in differ[:3]]
        labels.append(", ".join([strategy, *parts]))
    # still ambiguous (e.g. strategy options alone differ): name the folder
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            labels[i] = f"{label} ({groups[i][0].path.name})"
    return labels


def group_runs(runs: Sequence[Run]) -> list[RunGroup]:
    """Group ``runs`` by configuration (apart from :data:`IGNORED_KEYS`), in order of first
    appearance; runs inside a group are sorted by seed. Labels name the strategy, then the
    configuration keys that tell apart groups with the same strategy."""
    buckets: dict[str, list[Run]] = {}
    for run in runs:
        buckets.setdefault(run.group_key(), []).append(run)
    members = [sorted(b, key=lambda r: (r.seed is None, r.seed or 0, str(r.path)))
               for b in buckets.values()]
    return [RunGroup(label, runs) for label, runs in zip(_labels(members), members)]


def as_float(value: Any) -> float:
    """A number from JSON (``"nan"``/``"inf"`` strings included) as a float; else ``nan``.

    >>> as_float("inf"), as_float(None), as_float(2)
    (inf, nan, 2.0)
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
