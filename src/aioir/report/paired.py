"""Paired differences to the baseline with their 95 % intervals, from the runs' per-image scores.

The report's difference rows use the bench's estimator (:mod:`aioir.bench.stats`: a crossed
percentile bootstrap over training seeds and, per task, test images) on the per-image records of
each run's evaluation: for a method and the baseline, the seeds both have and the test images
(task, name) both evaluated; ``d[seed, image]`` = the method's PSNR minus the baseline's. With
one seed the interval covers the test images only.

>>> def ev(*psnrs):
...     return {"records": [{"task": "rain", "name": f"{i}.png", "psnr": p, "ssim": 0.9}
...                         for i, p in enumerate(psnrs)]}
>>> out = paired_differences({"mixed": {0: ev(30.0, 31.0, 32.0)},
...                           "tur": {0: ev(30.5, 31.5, 32.0)}}, "mixed", ["rain"], n_boot=200)
>>> round(out["tur"]["rain"]["estimate"], 4), round(out["tur"]["Average"]["estimate"], 4)
(0.3333, 0.3333)
>>> interval_text(out["tur"]["rain"])
'+0.33 [+0.00, +0.50]'
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from aioir.bench.stats import AVERAGE as BENCH_AVERAGE
from aioir.bench.stats import paired_intervals, resampling

__all__ = ["paired_differences", "interval_text", "AVERAGE"]

AVERAGE = "Average"

#: a per-seed evaluation summary (``EvalResult.to_dict()``): its ``records`` are read
Evaluation = Mapping[str, Any]


def _scores(evaluation: Evaluation, metric: str) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for r in evaluation.get("records") or []:
        try:
            out[(str(r["task"]), str(r["name"]))] = float(r[metric])
        except (KeyError, TypeError, ValueError):
            continue
    return out


def paired_differences(
    evaluations: Mapping[str, Mapping[Any, Evaluation]],
    baseline: str,
    tasks: Sequence[str],
    *,
    metric: str = "psnr",
    n_boot: int = 10_000,
) -> dict[str, dict[str, dict[str, Any]]]:
    """For every label but ``baseline``: ``{column: {"estimate", "lo", "hi", "excludes_zero",
    "seeds", "images"}}`` with columns the tasks (those with shared images) and ``Average``.

    ``evaluations[label][seed]``: that run's evaluation summary. Labels sharing no seed or no
    test image with the baseline get no entry (nothing is paired).
    """
    base = evaluations.get(baseline) or {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for label, runs in evaluations.items():
        if label == baseline:
            continue
        seeds = [s for s in runs if s in base]
        if not seeds:
            continue
        mine = [_scores(runs[s], metric) for s in seeds]
        theirs = [_scores(base[s], metric) for s in seeds]
        shared = set.intersection(*(set(m) & set(t) for m, t in zip(mine, theirs)))
        present = [t for t in tasks if any(k[0] == t for k in shared)]
        if not present:
            continue
        keys = sorted(shared, key=lambda k: (present.index(k[0]) if k[0] in present else -1,
                                             k[1]))
        keys = [k for k in keys if k[0] in present]
        groups = np.array([present.index(k[0]) for k in keys])
        d = np.array([[m[k] - t[k] for k in keys] for m, t in zip(mine, theirs)])
        sizes = np.bincount(groups, minlength=len(present)).tolist()
        result = paired_intervals(d, groups, resampling(len(seeds), sizes, n_boot=n_boot))
        columns: dict[str, dict[str, Any]] = {}
        for i, task in enumerate(present):
            columns[task] = {**result[i], "seeds": len(seeds), "images": sizes[i]}
        columns[AVERAGE] = {**result[BENCH_AVERAGE], "seeds": len(seeds), "images": len(keys)}
        out[label] = columns
    return out


def interval_text(iv: Mapping[str, Any] | None, digits: int = 2) -> str:
    """``+0.12 [-0.03, +0.27]`` (``*`` when the interval excludes 0); the estimate alone when
    there is no interval; ``-`` for none.

    >>> interval_text({"estimate": 0.5, "lo": 0.1, "hi": 0.9, "excludes_zero": True})
    '+0.50 [+0.10, +0.90]*'
    >>> interval_text({"estimate": 0.5, "lo": float("nan"), "hi": float("nan")})
    '+0.50'
    """
    if not iv or not math.isfinite(float(iv.get("estimate", math.nan))):
        return "-"
    text = f"{iv['estimate']:+.{digits}f}"
    lo, hi = float(iv.get("lo", math.nan)), float(iv.get("hi", math.nan))
    if math.isfinite(lo) and math.isfinite(hi):
        text += f" [{lo:+.{digits}f}, {hi:+.{digits}f}]"
        if iv.get("excludes_zero"):
            text += "*"
    return text
