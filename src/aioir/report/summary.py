"""The one place where runs are compared: per-task scores as mean +/- std over seeds, paired
differences to a baseline with their 95 % intervals, and the tables ``aioir report``,
``aioir bench`` and ``aioir demo`` print (:func:`summary_rows`, :func:`summarise_seeds`,
:func:`paired_differences`, :func:`beats_input`). The interval estimator itself (a crossed
bootstrap over seeds and test images) is :mod:`aioir.report.stats`.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .runs import RunGroup, as_float
from .stats import AVERAGE as _STATS_AVERAGE
from .stats import paired_intervals, resampling

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
    "summary_records",
    "per_image",
    "paired_differences",
    "interval_text",
    "summarise_seeds",
    "beats_input",
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

    ``intervals[label][column]`` (:func:`paired_differences`): the paired difference and its
    95 % interval, shown instead of the difference of the means where given.
    """
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

    ``evaluations[label][seed]``: that run's evaluation summary (its per-image ``records``).
    For a label and the baseline, the seeds both have and the test images (task, name) both
    evaluated are paired: ``d[seed, image]`` = the label's ``metric`` minus the baseline's, and
    :func:`aioir.report.stats.paired_intervals` gives each task's mean difference and the
    average over tasks with their 95 % intervals (with one seed the interval covers the test
    images only). The images of a task are resampled in the order of their names, so the same
    runs give the same interval whichever command (report, bench, demo) reads them. Labels
    sharing no seed or no test image with the baseline get no entry (nothing is paired).

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
        keys = sorted((k for k in shared if k[0] in present),
                      key=lambda k: (present.index(k[0]), k[1]))
        groups = np.array([present.index(k[0]) for k in keys])
        d = np.array([[m[k] - t[k] for k in keys] for m, t in zip(mine, theirs)])
        sizes = np.bincount(groups, minlength=len(present)).tolist()
        result = paired_intervals(d, groups, resampling(len(seeds), sizes, n_boot=n_boot))
        columns: dict[str, dict[str, Any]] = {}
        for i, task in enumerate(present):
            columns[task] = {**result[i], "seeds": len(seeds), "images": sizes[i]}
        columns[AVERAGE] = {**result[_STATS_AVERAGE], "seeds": len(seeds), "images": len(keys)}
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


def per_image(summary: Mapping[str, Any], where: str) -> dict[tuple[str, str], dict[str, float]]:
    """``{(task, name): {"psnr", "ssim"}}`` of an evaluation summary's records."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for r in summary["records"]:
        key = (str(r["task"]), str(r["name"]))
        if key in out:
            raise ValueError(f"{where}: test image {key[1]!r} of task {key[0]!r} appears twice")
        out[key] = {m: float(r[m]) for m in METRICS}
    return out


def _matrix(evals: Sequence[dict[tuple[str, str], dict[str, float]]],
            keys: list[tuple[str, str]], metric: str) -> np.ndarray:
    return np.array([[e[k][metric] for k in keys] for e in evals], dtype=np.float64)


def summarise_seeds(
    evaluations: Mapping[str, Sequence[Mapping[str, Any]]],
    inputs: Mapping[str, Any],
    *,
    tasks: Sequence[str],
    seeds: Sequence[int],
    baseline: str,
    n_boot: int = 10_000,
) -> dict[str, Any]:
    """The numbers of one bench table (one budget): the degraded input's per-task scores, each
    row's mean ± std over seeds of its per-task means (and of their average), and each row's
    :func:`paired_differences` to ``baseline``.

    Args:
        evaluations: per row, the final evaluation summary of each seed (in ``seeds`` order).
        inputs: the degraded inputs' evaluation summary (same test images).
        tasks: task order of the columns.

    Every cell must hold exactly the same test images (task, name) as the input evaluation.
    """
    ref = per_image(inputs, "degraded input")
    keys = [k for t in tasks for k in ref if k[0] == t]
    unknown = sorted({k[0] for k in ref} - set(tasks))
    if unknown:
        raise ValueError(f"test images of tasks {unknown} are not among the bench's tasks {tasks}")
    present = [t for t in tasks if any(k[0] == t for k in keys)]
    groups = np.array([present.index(k[0]) for k in keys])
    sizes = [int((groups == i).sum()) for i in range(len(present))]
    average = _STATS_AVERAGE  # the bench's files key the average column "average"
    columns = [*present, average]
    images = {t: sizes[i] for i, t in enumerate(present)}

    per_row: dict[str, dict[str, np.ndarray]] = {}
    for row, summaries in evaluations.items():
        if len(summaries) != len(seeds):
            raise ValueError(f"{row}: {len(summaries)} evaluations for {len(seeds)} seeds")
        evals = []
        for seed, summary in zip(seeds, summaries):
            e = per_image(summary, f"{row} seed {seed}")
            if set(e) != set(ref):
                missing, extra = sorted(set(ref) - set(e))[:3], sorted(set(e) - set(ref))[:3]
                raise ValueError(f"{row} seed {seed} was evaluated on other test images than "
                                 f"the rest (missing {missing}, extra {extra})")
            evals.append(e)
        per_row[row] = {m: _matrix(evals, keys, m) for m in METRICS}

    def task_means(x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-seed mean of each task (and the average over tasks) of a (G, n) matrix."""
        out = {t: x[:, groups == i].mean(axis=1) for i, t in enumerate(present)}
        out[average] = np.mean([out[t] for t in present], axis=0)
        return out

    inp = {m: _matrix([ref], keys, m) for m in METRICS}
    input_row = {m: {c: float(v[0]) for c, v in task_means(inp[m]).items()} for m in METRICS}
    scores: dict[str, Any] = {}
    for row, mats in per_row.items():
        scores[row] = {}
        for m, x in mats.items():
            means = task_means(x)
            scores[row][m] = {
                c: {
                    "mean": float(means[c].mean()),
                    "std": float(means[c].std(ddof=1)) if len(seeds) > 1 else math.nan,
                    "per_seed": [float(v) for v in means[c]],
                }
                for c in columns
            }
    by_seed = {row: dict(zip(seeds, summaries)) for row, summaries in evaluations.items()}
    paired = {m: paired_differences(by_seed, baseline, present, metric=m, n_boot=n_boot)
              for m in METRICS}
    differences = {row: {m: {(average if c == AVERAGE else c): iv
                             for c, iv in paired[m][row].items()} for m in METRICS}
                   for row in evaluations if row != baseline}
    return {
        "seeds": list(seeds),
        "tasks": present,
        "images": images,
        "baseline": baseline,
        "input": input_row,
        "scores": scores,
        "differences": differences,
        "n_boot": n_boot,
    }


def beats_input(rows: Mapping[str, Mapping[str, Any]], labels: Sequence[str],
                tasks: Sequence[str], input_row: str = "degraded input") -> dict[str, Any]:
    """For each label: the tasks where its mean PSNR beats the degraded input's, their number,
    and its average PSNR gain over the input (``rows``: evaluation summaries, ``per_task`` and
    ``average``).

    >>> row = lambda a, b: {"per_task": {"rain": {"psnr": a}, "haze": {"psnr": b}},
    ...                     "average": {"psnr": (a + b) / 2}}
    >>> beats_input({"degraded input": row(20, 20), "mixed": row(25, 19)}, ["mixed"],
    ...             ["rain", "haze"])["mixed"]
    {'tasks_beating_input': ['rain'], 'n_tasks_beating_input': 1, 'average_gain_over_input': 2.0}
    """
    base = rows[input_row]
    verdict = {}
    for label in labels:
        r = rows[label]
        better = [t for t in tasks if r["per_task"][t]["psnr"] > base["per_task"][t]["psnr"]]
        verdict[label] = {
            "tasks_beating_input": better,
            "n_tasks_beating_input": len(better),
            "average_gain_over_input": r["average"]["psnr"] - base["average"]["psnr"],
        }
    return verdict
