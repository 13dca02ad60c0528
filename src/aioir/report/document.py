"""What a report says, and its two renderings: one self-contained HTML page and markdown.

The HTML page embeds every figure as a ``data:`` URI and its style inline: it loads no other
file and no network resource, so it opens offline, attached to a mail or copied anywhere. The
markdown page links the PNG files under ``figures/``.

>>> doc = ReportDocument(title="t", headers=["method", "rain"], rows=[["mixed", "30.00"]])
>>> "<td>30.00</td>" in html_page(doc), "| mixed  | 30.00 |" in markdown_page(doc)
(True, True)
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aioir.markdown import markdown_table

__all__ = ["FigureEntry", "RunEntry", "TableEntry", "ReportDocument", "html_page",
           "markdown_page"]


@dataclass
class FigureEntry:
    """One figure: drawn (``file``, relative to the report folder) or skipped (``skipped``: why).

    ``table``: optional ``(headers, rows)`` of the numbers the figure shows (e.g. per-image PSNR),
    rendered under it; ``data``: the same numbers for ``report.json``.
    """

    id: str
    title: str
    caption: str = ""
    file: str | None = None
    skipped: str | None = None
    table: tuple[list[str], list[list[str]]] | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableEntry:
    """A table besides the main results table (e.g. the whole photographs, the no-reference
    scores of photographs without ground truth), with its notes."""

    id: str
    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunEntry:
    """One row of the report's list of runs."""

    label: str
    strategy: str
    seeds: str
    steps: str
    folders: list[str]


@dataclass
class ReportDocument:
    """Everything a report shows; ``root`` is the folder the figure files are read from."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    tables: list[TableEntry] = field(default_factory=list)
    runs: list[RunEntry] = field(default_factory=list)
    figures: list[FigureEntry] = field(default_factory=list)
    root: Path | None = None

    @property
    def drawn(self) -> list[FigureEntry]:
        return [f for f in self.figures if f.file]

    @property
    def skipped(self) -> list[FigureEntry]:
        return [f for f in self.figures if not f.file]


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1280px;
padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0;font-size:.84em}
th,td{border:1px solid #ccc;padding:.25em .45em;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
tr.diff td{color:#555;font-style:italic}.wide{overflow-x:auto}
table.left td,table.left th{text-align:left}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;margin-top:.3em}
.note{font-size:.9em;color:#444}.skipped{color:#8a4b00}code{font-size:.92em}
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _html_table(headers: list[str], rows: list[list[str]], diff_marker: str = " vs ",
                align_left: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cls = ' class="diff"' if diff_marker and diff_marker in str(row[0]) else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    cls = ' class="left"' if align_left else ""
    table = f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="wide">{table}</div>'


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _runs_rows(doc: ReportDocument) -> tuple[list[str], list[list[str]]]:
    headers = ["method", "strategy", "seeds", "evaluated at step", "run folders"]
    return headers, [[r.label, r.strategy, r.seeds, r.steps, ", ".join(r.folders)]
                     for r in doc.runs]


def html_page(doc: ReportDocument) -> str:
    """The report as one HTML page with every figure embedded."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(doc.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(doc.title)}</h1>",
        "<h2>Results</h2>",
        _html_table(doc.headers, doc.rows),
        *(f'<p class="note">{_e(n)}</p>' for n in doc.notes),
    ]
    for table in doc.tables:
        parts += [f'<h2 id="{_e(table.id)}">{_e(table.title)}</h2>',
                  _html_table(table.headers, table.rows),
                  *(f'<p class="note">{_e(n)}</p>' for n in table.notes)]
    if doc.runs:
        parts += ["<h2>Runs</h2>", _html_table(*_runs_rows(doc), diff_marker="", align_left=True)]
    if doc.skipped:
        parts.append("<h2>Figures not drawn</h2><ul>")
        parts += [f'<li class="skipped"><b>{_e(f.title)}</b>: {_e(f.skipped)}</li>'
                  for f in doc.skipped]
        parts.append("</ul>")
    for fig in doc.drawn:
        assert fig.file is not None
        src = _data_uri((doc.root or Path(".")) / fig.file)
        parts += [
            f'<h2 id="{_e(fig.id)}">{_e(fig.title)}</h2><figure>',
            f'<img src="{src}" alt="{_e(fig.title)}">',
            f"<figcaption>{_e(fig.caption)}</figcaption></figure>",
        ]
        if fig.table:
            parts.append(_html_table(*fig.table, diff_marker=""))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def markdown_page(doc: ReportDocument) -> str:
    """The report as markdown, linking the figure files."""
    lines = [f"# {doc.title}", "", "## Results", "", markdown_table(doc.headers, doc.rows), ""]
    for note in doc.notes:
        lines += [note, ""]
    for table in doc.tables:
        lines += [f"## {table.title}", "", markdown_table(table.headers, table.rows), ""]
        for note in table.notes:
            lines += [note, ""]
    if doc.runs:
        headers, rows = _runs_rows(doc)
        lines += ["## Runs", "", markdown_table(headers, rows, align="l" * len(headers)), ""]
    if doc.skipped:
        lines += ["## Figures not drawn", ""]
        lines += [f"- **{f.title}**: {f.skipped}" for f in doc.skipped]
        lines.append("")
    for fig in doc.drawn:
        lines += [f"## {fig.title}", "", f"![{fig.title}]({fig.file})", "", fig.caption, ""]
        if fig.table:
            lines += [markdown_table(*fig.table), ""]
    return "\n".join(lines)
