"""Training curves read from a run's ``metrics.jsonl``, and their mean over seeds.

A training record holds ``step``, ``loss``, ``lr`` and per-task dictionaries (``task_loss``,
``task_weight``, and whatever per-task extras the strategy logs, e.g. TUR's ``uncertainty``),
with only the tasks present in that step's batch. A validation record holds ``val`` (per task:
``psnr``, ``ssim``, ...) and ``val_avg``.

>>> recs = [{"step": 1, "lr": 0.1, "task_loss": {"a": 0.5}},
...         {"step": 2, "lr": 0.2, "task_loss": {"a": 0.4, "b": 0.9}},
...         {"step": 2, "val": {"a": {"psnr": 30.0}}, "val_avg": {"psnr": 30.0}}]
>>> scalar_series(recs, "lr")
Series(steps=[1, 2], values=[0.1, 0.2])
>>> per_task_series(recs, "task_loss", ["a", "b"])["b"]
Series(steps=[2], values=[0.9])
>>> validation_series(recs, ["a"])["Average"]
Series(steps=[2], values=[30.0])
>>> per_task_keys(recs, ["a", "b"])
['task_loss']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .runs import as_float

__all__ = [
    "Series",
    "scalar_series",
    "per_task_series",
    "per_task_keys",
    "validation_series",
    "mean_over_runs",
    "moving_average",
]


@dataclass
class Series:
    """Values logged at steps (in logging order)."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def add(self, step: Any, value: Any) -> None:
        v = as_float(value)
        if not math.isnan(v) and step is not None:
            self.steps.append(int(step))
            self.values.append(v)


def _is_training(record: Mapping[str, Any]) -> bool:
    return "val" not in record and "val_avg" not in record


def scalar_series(records: Sequence[Mapping[str, Any]], key: str) -> Series:
    """``record[key]`` of the training records that hold a number there."""
    out = Series()
    for r in records:
        if _is_training(r) and isinstance(r.get(key), (int, float, str)):
            out.add(r.get("step"), r[key])
    return out


def per_task_series(
    records: Sequence[Mapping[str, Any]], key: str, tasks: Sequence[str]
) -> dict[str, Series]:
    """``record[key][task]`` per task (tasks never logged are left out), in ``tasks`` order."""
    out = {t: Series() for t in tasks}
    for r in records:
        values = r.get(key)
        if _is_training(r) and isinstance(values, Mapping):
            for t, v in values.items():
                if t in out:
                    out[t].add(r.get("step"), v)
    return {t: s for t, s in out.items() if s}


def per_task_keys(records: Sequence[Mapping[str, Any]], tasks: Sequence[str]) -> list[str]:
    """Keys of training records whose values are numbers keyed by task names, in first-seen
    order (``task_loss``, ``task_weight``, a strategy's extras)."""
    names = set(tasks)
    keys: list[str] = []
    for r in records:
        if not _is_training(r):
            continue
        for k, v in r.items():
            if (k not in keys and isinstance(v, Mapping) and v and set(v) <= names
                    and all(isinstance(x, (int, float, str)) for x in v.values())):
                keys.append(k)
    return keys


def validation_series(
    records: Sequence[Mapping[str, Any]], tasks: Sequence[str], metric: str = "psnr"
) -> dict[str, Series]:
    """Validation ``metric`` over training: ``Average`` (from ``val_avg``) and each task."""
    out = {"Average": Series(), **{t: Series() for t in tasks}}
    for r in records:
        if isinstance(r.get("val_avg"), Mapping):
            out["Average"].add(r.get("step"), r["val_avg"].get(metric))
        if isinstance(r.get("val"), Mapping):
            for t, row in r["val"].items():
                if t in out and isinstance(row, Mapping):
                    out[t].add(r.get("step"), row.get(metric))
    return {k: s for k, s in out.items() if s}


def mean_over_runs(series: Sequence[Series]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, mean, std)`` over runs at the steps every run logged (std: ``ddof=1``, zero
    for one run). A step logged twice in a run (never after a clean resume) keeps the last value.

    >>> s, m, sd = mean_over_runs([Series([1, 2], [1.0, 3.0]), Series([2, 3], [5.0, 0.0])])
    >>> s.tolist(), m.tolist(), [round(x, 4) for x in sd.tolist()]
    ([2], [4.0], [1.4142])
    """
    maps = [dict(zip(s.steps, s.values)) for s in series if s]
    if not maps:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    common = sorted(set.intersection(*(set(m) for m in maps)))
    values = np.array([[m[s] for s in common] for m in maps], dtype=np.float64)
    std = values.std(axis=0, ddof=1) if len(maps) > 1 else np.zeros(len(common))
    return np.array(common), values.mean(axis=0), std


def moving_average(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` values (fewer at the start).

    >>> moving_average([1.0, 3.0, 5.0, 7.0], 2).tolist()
    [1.0, 2.0, 4.0, 6.0]
    """
    arr = np.asarray(values, dtype=np.float64)
    if window <= 1 or arr.size == 0:
        return arr
    csum = np.concatenate([[0.0], np.cumsum(arr)])
    idx = np.arange(1, arr.size + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)
