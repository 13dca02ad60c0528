"""Per-task scores of run groups: mean +/- std over seeds, differences to a baseline, tables.

A group's score on a task is the mean over its runs (seeds) of each run's per-task mean (from the
run's final ``eval/step_*.json``); the spread is the sample standard deviation over the seeds
(``ddof=1``; none with a single seed). The ``Average`` column averages, over seeds, each run's
average over tasks (every task counts once, as in the papers). A difference to the baseline is
the difference of the two groups' means, in dB.

>>> from aioir.report.summary import Stat, mean_std
>>> mean_std([30.0, 31.0]).text(2)
'30.50 ± 0.71'
>>> mean_std([30.0]).text(2)
'30.00'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .runs import RunGroup, as_float

__all__ = [
    "AVERAGE",
    "METRICS",
    "Stat",
    "GroupSummary",
    "mean_std",
    "summarise_group",
    "summarise_evaluation",
    "psnr_differences",
    "summary_rows",
]

AVERAGE = "Average"
METRICS = ("psnr", "ssim")
_DIGITS = {"psnr": 2, "ssim": 4}


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (nan for one value) and number of values."""

    mean: float
    std: float
    n: int

    def text(self, digits: int) -> str:
        """``mean ± std`` (``mean`` alone for a single value, ``-`` for none).

        >>> Stat(0.91234, 0.0012, 3).text(4)
        '0.9123 ± 0.0012'
        """
        if self.n == 0:
            return "-"
        if self.n == 1 or math.isnan(self.std):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def mean_std(values: Sequence[float]) -> Stat:
    """:class:`Stat` of ``values`` (sample std, ``ddof=1``).

    >>> s = mean_std([1.0, 2.0, 4.0]); round(s.mean, 4), round(s.std, 4), s.n
    (2.3333, 1.5275, 3)
    """
    arr = np.asarray([as_float(v) for v in values], dtype=np.float64)
    if arr.size == 0:
        return Stat(math.nan, math.nan, 0)
    std = float(np.std(arr, ddof=1)) if arr.size > 1 else math.nan
    return Stat(float(np.mean(arr)), std, int(arr.size))


@dataclass
class GroupSummary:
    """Scores of one row of the table: ``scores[column][metric]`` with column = task or
    ``Average``; ``seeds`` and ``steps`` of the runs it summarises."""

    label: str
    scores: dict[str, dict[str, Stat]] = field(default_factory=dict)
    seeds: list[Any] = field(default_factory=list)
    steps: list[int | None] = field(default_factory=list)
    protocols: list[str] = field(default_factory=list)

    def mean(self, column: str, metric: str = "psnr") -> float:
        stat = self.scores.get(column, {}).get(metric)
        return stat.mean if stat is not None else math.nan

    def cell(self, column: str) -> str:
        """``PSNR[ ± std] / SSIM[ ± std]``; ``-`` when the column has no score."""
        stats = self.scores.get(column)
        if not stats or "psnr" not in stats or stats["psnr"].n == 0:
            return "-"
        parts = [stats[m].text(_DIGITS[m]) for m in METRICS if m in stats and stats[m].n]
        return " / ".join(parts)


def _columns(evaluation: Mapping[str, Any], tasks: Sequence[str], key: str = "per_task",
             avg_key: str = "average") -> dict[str, Mapping[str, Any]]:
    per_task = evaluation.get(key) or {}
    out = {t: per_task[t] for t in tasks if t in per_task}
    if evaluation.get(avg_key):
        out[AVERAGE] = evaluation[avg_key]
    return out


def summarise_evaluation(label: str, evaluation: Mapping[str, Any], tasks: Sequence[str],
                         *, key: str = "per_task", avg_key: str = "average") -> GroupSummary:
    """One evaluation summary (``EvalResult.to_dict()``) as a single-seed row."""
    scores = {
        col: {m: mean_std([row[m]]) for m in METRICS if m in row}
        for col, row in _columns(evaluation, tasks, key, avg_key).items()
    }
    protocol = evaluation.get("protocol_description")
    return GroupSummary(label, scores, protocols=[protocol] if protocol else [])


def summarise_group(group: RunGroup, tasks: Sequence[str],
                     which: str = "evaluation") -> GroupSummary:
    """Mean +/- std over the seeds of ``group`` (runs without an evaluation are left out).

    ``which``: the :class:`~aioir.report.runs.Run` attribute holding the evaluation summarised
    (``"evaluation"``: the final validation; ``"whole"``: the whole-photograph evaluation)."""
    evaluated = [(r, getattr(r, which)) for r in group.runs if getattr(r, which)]
    summary = GroupSummary(group.label, seeds=[r.seed for r, _ in evaluated],
                           steps=[r.eval_step for r, _ in evaluated])
    values: dict[str, dict[str, list[float]]] = {}
    for _, evaluation in evaluated:
        for col, row in _columns(evaluation, tasks).items():
            for m in METRICS:
                if m in row:
                    values.setdefault(col, {}).setdefault(m, []).append(as_float(row[m]))
        protocol = evaluation.get("protocol_description")
        if protocol and protocol not in summary.protocols:
            summary.protocols.append(protocol)
    summary.scores = {col: {m: mean_std(v) for m, v in ms.items()} for col, ms in values.items()}
    return summary


def psnr_differences(rows: Sequence[GroupSummary], baseline: str,
                     tasks: Sequence[str]) -> dict[str, dict[str, float]]:
    """PSNR mean of each row minus the baseline's, per task and on the average (nan if either
    is missing). The baseline itself gets no entry.

    >>> a = GroupSummary("a", {"rain": {"psnr": Stat(30.0, math.nan, 1)}})
    >>> b = GroupSummary("b", {"rain": {"psnr": Stat(30.5, math.nan, 1)}})
    >>> psnr_differences([a, b], "a", ["rain"])
    {'b': {'rain': 0.5, 'Average': nan}}
    """
    base = {r.label: r for r in rows}.get(baseline)
    if base is None:
        raise ValueError(f"baseline {baseline!r} is not one of: {', '.join(r.label for r in rows)}")
    return {
        r.label: {c: r.mean(c) - base.mean(c) for c in [*tasks, AVERAGE]}
        for r in rows
        if r.label != baseline
    }


def summary_rows(
    rows: Sequence[GroupSummary],
    tasks: Sequence[str],
    baseline: str | None = None,
    *,
    no_difference: Sequence[str] = (),
    intervals: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> tuple[list[str], list[list[str]]]:
    """Text table: headers ``method, seeds, <tasks>, Average`` and one row per summary, then
    one ``<row> vs <baseline> (dB)`` row per other summary (not for ``no_difference`` rows, such
    as the degraded input).

    ``intervals[label][column]`` (:func:`aioir.report.paired.paired_differences`): the paired
    difference and its 95 % interval, shown instead of the difference of the means where given.
    """
    from .paired import interval_text

    columns = [*tasks, AVERAGE]
    headers = ["method", "seeds", *columns]
    body = [[r.label, str(len(r.seeds) or "-"), *(r.cell(c) for c in columns)] for r in rows]
    if baseline is not None:
        for label, diffs in psnr_differences(rows, baseline, tasks).items():
            if label in no_difference:
                continue
            paired = (intervals or {}).get(label, {})
            cells = [interval_text(paired[c]) if c in paired
                     else "-" if math.isnan(diffs[c]) else f"{diffs[c]:+.2f}" for c in columns]
            body.append([f"{label} vs {baseline} (dB)", "", *cells])
    return headers, body


def summary_records(
    rows: Sequence[GroupSummary], tasks: Sequence[str], baseline: str | None = None
) -> tuple[list[str], list[list[Any]]]:
    """CSV-ready long table: one line per (row, column, metric) with mean, std, n, and the PSNR
    difference to the baseline's mean."""
    diffs = psnr_differences(rows, baseline, tasks) if baseline else {}
    headers = ["method", "column", "metric", "mean", "std", "n", "diff_vs_baseline"]
    out: list[list[Any]] = []
    for r in rows:
        for col in [*tasks, AVERAGE]:
            for m in METRICS:
                stat = r.scores.get(col, {}).get(m)
                if stat is None:
                    continue
                diff = diffs.get(r.label, {}).get(col, math.nan) if m == "psnr" else math.nan
                out.append([r.label, col, m, stat.mean, stat.std, stat.n,
                            "" if math.isnan(diff) else diff])
    return headers, out
