"""The bench's tables: per-task and average PSNR/SSIM (mean ± std over seeds) of every strategy,
the degraded input, and each strategy's paired difference to the baseline with its 95 % interval.

Input: for one budget, each cell's final per-image evaluation (``records`` with task, name, psnr,
ssim) and the degraded inputs' scores on the same test images. Output: plain data
(:func:`summarise`), a markdown table (:func:`markdown`) and CSV rows (:func:`csv_rows`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from aioir.bench.stats import AVERAGE, METHOD, paired_intervals, resampling
from aioir.markdown import markdown_table

__all__ = ["METRICS", "per_image", "summarise", "markdown", "csv_rows", "CSV_HEADERS"]

METRICS = ("psnr", "ssim")
_DIGITS = {"psnr": 2, "ssim": 4}
_LABEL = {"psnr": "PSNR", "ssim": "SSIM"}
INPUT = "degraded input"
CSV_HEADERS = ["steps", "row", "kind", "metric", "column", "value", "std", "lo", "hi",
               "excludes_zero", "seeds", "images"]


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


def summarise(
    evaluations: Mapping[str, Sequence[Mapping[str, Any]]],
    inputs: Mapping[str, Any],
    *,
    tasks: Sequence[str],
    seeds: Sequence[int],
    baseline: str,
    n_boot: int = 10_000,
) -> dict[str, Any]:
    """The numbers of one budget's table.

    Args:
        evaluations: per strategy, the final evaluation summary of each seed (in ``seeds`` order).
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
    columns = [*present, AVERAGE]
    images = {t: sizes[i] for i, t in enumerate(present)}

    per_strategy: dict[str, dict[str, np.ndarray]] = {}
    for strategy, summaries in evaluations.items():
        if len(summaries) != len(seeds):
            raise ValueError(f"{strategy}: {len(summaries)} evaluations for {len(seeds)} seeds")
        evals = []
        for seed, summary in zip(seeds, summaries):
            e = per_image(summary, f"{strategy} seed {seed}")
            if set(e) != set(ref):
                missing, extra = sorted(set(ref) - set(e))[:3], sorted(set(e) - set(ref))[:3]
                raise ValueError(f"{strategy} seed {seed} was evaluated on other test images than "
                                 f"the rest (missing {missing}, extra {extra})")
            evals.append(e)
        per_strategy[strategy] = {m: _matrix(evals, keys, m) for m in METRICS}

    def task_means(x: np.ndarray) -> dict[str, np.ndarray]:
        """Per-seed mean of each task (and the average over tasks) of a (G, n) matrix."""
        out = {t: x[:, groups == i].mean(axis=1) for i, t in enumerate(present)}
        out[AVERAGE] = np.mean([out[t] for t in present], axis=0)
        return out

    inp = {m: _matrix([ref], keys, m) for m in METRICS}
    input_row = {m: {c: float(v[0]) for c, v in task_means(inp[m]).items()} for m in METRICS}
    scores: dict[str, Any] = {}
    for strategy, mats in per_strategy.items():
        scores[strategy] = {}
        for m, x in mats.items():
            means = task_means(x)
            scores[strategy][m] = {
                c: {
                    "mean": float(means[c].mean()),
                    "std": float(means[c].std(ddof=1)) if len(seeds) > 1 else math.nan,
                    "per_seed": [float(v) for v in means[c]],
                }
                for c in columns
            }
    r = resampling(len(seeds), sizes, n_boot=n_boot, seed=0)
    differences: dict[str, Any] = {}
    for strategy, mats in per_strategy.items():
        if strategy == baseline:
            continue
        differences[strategy] = {}
        for m, x in mats.items():
            res = paired_intervals(x - per_strategy[baseline][m], groups, r)
            differences[strategy][m] = {c: res[i if c != AVERAGE else AVERAGE]
                                        for i, c in enumerate(columns)}
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


def _num(value: float, digits: int, sign: bool = False) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _score_cell(s: Mapping[str, float], digits: int) -> str:
    text = _num(s["mean"], digits)
    return text if math.isnan(s["std"]) else f"{text} ± {_num(s['std'], digits)}"


def _diff_cell(d: Mapping[str, Any], digits: int) -> str:
    text = _num(d["estimate"], digits, sign=True)
    if math.isnan(d["lo"]):
        return text
    mark = "*" if d["excludes_zero"] else ""
    return f"{text} [{_num(d['lo'], digits, True)}, {_num(d['hi'], digits, True)}]{mark}"


def markdown(result: Mapping[str, Any]) -> str:
    """One markdown table: the input, each strategy, each difference to the baseline.

    >>> rec = lambda p: {"records": [{"task": "rain", "name": "a", "psnr": p, "ssim": 0.5},
    ...                              {"task": "rain", "name": "b", "psnr": p + 1, "ssim": 0.7}]}
    >>> res = summarise({"mixed": [rec(30.0), rec(31.0)], "art": [rec(30.5), rec(31.0)]},
    ...                 rec(20.0), tasks=["rain"], seeds=[0, 1], baseline="mixed", n_boot=200)
    >>> print(markdown(res))
    | row            | metric |                       rain |                    Average |
    |:---------------|:-------|---------------------------:|---------------------------:|
    | degraded input | PSNR   |                      20.50 |                      20.50 |
    | degraded input | SSIM   |                     0.6000 |                     0.6000 |
    | mixed          | PSNR   |               31.00 ± 0.71 |               31.00 ± 0.71 |
    | mixed          | SSIM   |            0.6000 ± 0.0000 |            0.6000 ± 0.0000 |
    | art            | PSNR   |               31.25 ± 0.35 |               31.25 ± 0.35 |
    | art            | SSIM   |            0.6000 ± 0.0000 |            0.6000 ± 0.0000 |
    | art - mixed    | PSNR   |       +0.25 [+0.00, +0.50] |       +0.25 [+0.00, +0.50] |
    | art - mixed    | SSIM   | +0.0000 [+0.0000, +0.0000] | +0.0000 [+0.0000, +0.0000] |
    """
    columns = [*result["tasks"], AVERAGE]
    body: list[list[str]] = []
    for m in METRICS:
        body.append([INPUT, _LABEL[m], *(_num(result["input"][m][c], _DIGITS[m]) for c in columns)])
    for strategy, rows in result["scores"].items():
        for m in METRICS:
            body.append([strategy, _LABEL[m],
                         *(_score_cell(rows[m][c], _DIGITS[m]) for c in columns)])
    for strategy, rows in result["differences"].items():
        for m in METRICS:
            body.append([f"{strategy} - {result['baseline']}", _LABEL[m],
                         *(_diff_cell(rows[m][c], _DIGITS[m]) for c in columns)])
    headers = ["row", "metric", *result["tasks"], "Average"]
    return markdown_table(headers, body, align="ll" + "r" * len(columns))


def method_note(n_boot: int) -> str:
    """The paragraph under every table: how the numbers were computed."""
    return METHOD.format(n_boot=f"{n_boot:,}")


def csv_rows(steps: int, result: Mapping[str, Any]) -> list[list[Any]]:
    """Long-format rows under :data:`CSV_HEADERS` (full precision; empty where a field does not
    apply: ``std`` of the input or of one seed, ``lo``/``hi`` of scores)."""
    columns = [*result["tasks"], AVERAGE]
    seeds, n = len(result["seeds"]), sum(result["images"].values())
    nan = math.nan
    rows: list[list[Any]] = []
    for m in METRICS:
        for c in columns:
            rows.append([steps, INPUT, "input", m, c, result["input"][m][c], nan, nan, nan, "",
                         seeds, n])
    for strategy, by_metric in result["scores"].items():
        for m in METRICS:
            for c in columns:
                s = by_metric[m][c]
                rows.append([steps, strategy, "score", m, c, s["mean"], s["std"], nan, nan, "",
                             seeds, n])
    for strategy, by_metric in result["differences"].items():
        for m in METRICS:
            for c in columns:
                d = by_metric[m][c]
                rows.append([steps, f"{strategy} - {result['baseline']}", "difference", m, c,
                             d["estimate"], nan, d["lo"], d["hi"], d["excludes_zero"], seeds, n])
    return [[("" if isinstance(v, float) and math.isnan(v) else v) for v in row] for row in rows]
