"""Markdown tables, the one renderer every printed table goes through (results, bench, demo,
``aioir data check``, ``aioir eval --photos``, the diffusion commands). On the bottom floor
(docs/architecture.md) so that the settings, metrics and report floors can all print one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["markdown_table"]


def _cell_text(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    headers: Sequence[Any], rows: Sequence[Sequence[Any]], align: str | None = None
) -> str:
    """A GitHub-flavoured markdown table; columns padded to equal width.

    ``align``: one character per column, ``l`` or ``r`` (default: first left, the rest right).

    >>> print(markdown_table(["method", "PSNR"], [["mixed", "30.10"], ["tur", "31.2"]]))
    | method |  PSNR |
    |:-------|------:|
    | mixed  | 30.10 |
    | tur    |  31.2 |
    """
    ncol = len(headers)
    for row in rows:
        if len(row) != ncol:
            raise ValueError(f"row {list(row)!r} has {len(row)} cells, expected {ncol}")
    align = align or "l" + "r" * (ncol - 1)
    if len(align) != ncol or set(align) - {"l", "r"}:
        raise ValueError(f"align must be {ncol} characters of 'l'/'r', got {align!r}")
    text = [[_cell_text(h) for h in headers]] + [[_cell_text(c) for c in row] for row in rows]
    widths = [max(3, *(len(r[i]) for r in text)) for i in range(ncol)]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align)]
        return "| " + " | ".join(padded) + " |"

    dashes = [":" + "-" * (w + 1) if a == "l" else "-" * (w + 1) + ":" for w, a in zip(widths, align)]
    rule = "|" + "|".join(dashes) + "|"
    return "\n".join([line(text[0]), rule, *(line(r) for r in text[1:])])
