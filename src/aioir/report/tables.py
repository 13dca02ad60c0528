"""Text tables for results: markdown and LaTeX rendering, per-task results, gains over a baseline.

A results "row" is an evaluation summary as :meth:`aioir.metrics.EvalResult.to_dict` returns it
(or the ``EvalResult`` itself): ``{"per_task": {task: {"psnr", "ssim", ...}}, "average": {...}}``.
Cells read ``PSNR/SSIM`` (``.2f``/``.4f``); a task a row has no value for reads ``-``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from aioir.markdown import markdown_table

from .writers import per_task_records, write_csv, write_json, write_results

__all__ = [
    "INPUT_ROW",
    "markdown_table",
    "latex_table",
    "format_cell",
    "psnr_gains",
    "results_table",
    "validation_table",
    "write_csv",
    "write_json",
    "write_results",
    "per_task_records",
]

#: Row name of the degraded inputs' scores (never given a gain row).
INPUT_ROW = "degraded input"
AVERAGE = "Average"
MISSING = "-"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def latex_table(headers: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """A LaTeX ``tabular`` (booktabs rules), special characters escaped.

    >>> print(latex_table(["method", "PSNR"], [["tur_5%", "31.2"]]))
    \\begin{tabular}{lr}
    \\toprule
    method & PSNR \\\\
    \\midrule
    tur\\_5\\% & 31.2 \\\\
    \\bottomrule
    \\end{tabular}
    """

    def esc(v: Any) -> str:
        return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(v))

    ncol = len(headers)
    lines = [f"\\begin{{tabular}}{{l{'r' * (ncol - 1)}}}", "\\toprule",
             " & ".join(esc(h) for h in headers) + " \\\\", "\\midrule"]
    for row in rows:
        if len(row) != ncol:
            raise ValueError(f"row {list(row)!r} has {len(row)} cells, expected {ncol}")
        lines.append(" & ".join(esc(c) for c in row) + " \\\\")
    return "\n".join([*lines, "\\bottomrule", "\\end{tabular}"])


def format_cell(scores: Mapping[str, Any] | None) -> str:
    """``"PSNR/SSIM"`` as ``.2f``/``.4f``; ``"-"`` when there is no score.

    >>> format_cell({"psnr": 30.123, "ssim": 0.91234}), format_cell(None)
    ('30.12/0.9123', '-')
    >>> format_cell({"psnr": float("inf"), "ssim": 1.0})
    'inf/1.0000'
    """
    if not scores or "psnr" not in scores:
        return MISSING
    text = f"{float(scores['psnr']):.2f}"
    if "ssim" in scores and scores["ssim"] is not None:
        text += f"/{float(scores['ssim']):.4f}"
    return text


def _summary(row: Any) -> Mapping[str, Any]:
    return row.to_dict() if hasattr(row, "to_dict") else row


def _scores(row: Mapping[str, Any], column: str) -> Mapping[str, Any] | None:
    if column == AVERAGE:
        return row.get("average")
    return row.get("per_task", {}).get(column)


def psnr_gains(
    rows: Mapping[str, Any], baseline: str, tasks: Sequence[str]
) -> dict[str, dict[str, float]]:
    """PSNR gain in dB of every row over ``baseline``, per task and on the average.

    The baseline itself and the :data:`INPUT_ROW` get no entry; a task missing on either side
    is ``nan``.

    >>> rows = {"mixed": {"per_task": {"rain": {"psnr": 30.0}}, "average": {"psnr": 30.0}},
    ...         "tur": {"per_task": {"rain": {"psnr": 30.5}}, "average": {"psnr": 30.5}}}
    >>> psnr_gains(rows, "mixed", ["rain"])
    {'tur': {'rain': 0.5, 'Average': 0.5}}
    """
    if baseline not in rows:
        raise KeyError(f"baseline {baseline!r} is not one of the rows: {', '.join(rows)}")
    base = _summary(rows[baseline])
    out: dict[str, dict[str, float]] = {}
    for name, row in rows.items():
        if name in (baseline, INPUT_ROW):
            continue
        row = _summary(row)
        gains = {}
        for column in [*tasks, AVERAGE]:
            a, b = _scores(row, column), _scores(base, column)
            gains[column] = (float(a["psnr"]) - float(b["psnr"])
                             if a and b and "psnr" in a and "psnr" in b else math.nan)
        out[name] = gains
    return out


def _gain_text(value: float) -> str:
    return MISSING if math.isnan(value) else f"{value:+.2f}"


def results_table(
    rows: Mapping[str, Any],
    tasks: Sequence[str],
    baseline: str | None = None,
    *,
    protocol: str | None = None,
) -> str:
    """Markdown table: one row per method (or the degraded input), columns = tasks + Average.

    With ``baseline``, one gain row per other method follows (``"<method> vs <baseline>"``,
    PSNR difference in dB, signed). ``protocol``: a line (``Protocol.describe()``) put under the
    table.

    >>> def s(p, q):
    ...     return {"per_task": {"rain": {"psnr": p, "ssim": q}}, "average": {"psnr": p, "ssim": q}}
    >>> r = {"degraded input": s(20.0, 0.6), "mixed": s(30.0, 0.9), "tur": s(30.25, 0.91)}
    >>> print(results_table(r, ["rain"], baseline="mixed"))
    | method            |         rain |      Average |
    |:------------------|-------------:|-------------:|
    | degraded input    | 20.00/0.6000 | 20.00/0.6000 |
    | mixed             | 30.00/0.9000 | 30.00/0.9000 |
    | tur               | 30.25/0.9100 | 30.25/0.9100 |
    | tur vs mixed (dB) |        +0.25 |        +0.25 |
    """
    columns = [*tasks, AVERAGE]
    body = [
        [name, *(format_cell(_scores(_summary(row), c)) for c in columns)] for name, row in rows.items()
    ]
    if baseline is not None:
        for name, gains in psnr_gains(rows, baseline, tasks).items():
            body.append([f"{name} vs {baseline} (dB)", *(_gain_text(gains[c]) for c in columns)])
    table = markdown_table(["method", *columns], body)
    return f"{table}\n\n{protocol}" if protocol else table


def validation_table(summary: Any) -> str:
    """Markdown table of one evaluation (``EvalResult`` or its ``to_dict()``): a row per task
    and the average, columns images / PSNR / SSIM [/ LPIPS], its protocol named underneath.

    >>> s = {"per_task": {"rain": {"psnr": 30.0, "ssim": 0.9, "count": 2}},
    ...      "average": {"psnr": 30.0, "ssim": 0.9, "count": 1},
    ...      "protocol_description": "Protocol 'x'."}
    >>> print(validation_table(s))
    | task    | images |  PSNR |   SSIM |
    |:--------|-------:|------:|-------:|
    | rain    |      2 | 30.00 | 0.9000 |
    | Average |      1 | 30.00 | 0.9000 |
    <BLANKLINE>
    Protocol 'x'.
    """
    summary = _summary(summary)
    per_task = summary["per_task"]
    has_lpips = any("lpips" in row for row in per_task.values())
    headers = ["task", "images", "PSNR", "SSIM"] + (["LPIPS"] if has_lpips else [])

    def cells(name: str, row: Mapping[str, Any]) -> list[str]:
        out = [name, str(row.get("count", "")), f"{row['psnr']:.2f}", f"{row['ssim']:.4f}"]
        return out + ([f"{row['lpips']:.4f}"] if has_lpips else [])

    body = [cells(task, row) for task, row in per_task.items()]
    if "average" in summary:
        body.append(cells(AVERAGE, summary["average"]))
    table = markdown_table(headers, body)
    note = summary.get("protocol_description")
    return f"{table}\n\n{note}" if note else table
