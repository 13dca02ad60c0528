"""The bench's tables as text: the numbers of :func:`aioir.report.summary.summarise_seeds`
(per-task and average PSNR/SSIM, mean ± std over seeds, of every row and the degraded input,
and each row's paired difference to the baseline with its 95 % interval) as a markdown table
(:func:`markdown`) and CSV rows (:func:`csv_rows`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from aioir.markdown import markdown_table
from aioir.report.stats import AVERAGE, METHOD
from aioir.report.summary import METRICS

__all__ = ["markdown", "csv_rows", "method_note", "CSV_HEADERS"]

_DIGITS = {"psnr": 2, "ssim": 4}
_LABEL = {"psnr": "PSNR", "ssim": "SSIM"}
INPUT = "degraded input"
CSV_HEADERS = ["steps", "row", "kind", "metric", "column", "value", "std", "lo", "hi",
               "excludes_zero", "seeds", "images"]


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
    >>> from aioir.report.summary import summarise_seeds
    >>> res = summarise_seeds({"mixed": [rec(30.0), rec(31.0)], "art": [rec(30.5), rec(31.0)]},
    ...                       rec(20.0), tasks=["rain"], seeds=[0, 1], baseline="mixed", n_boot=200)
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
