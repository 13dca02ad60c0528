"""Check a dataset tree against a setting: what ``aioir data check`` prints.

For every training source and test set: the number of usable pairs (or clean images), and every
problem — a missing folder or list file (named with the expected path), an LQ file without its
GT partner, LQ/GT pairs of different sizes, files whose header cannot be read. Headers are read
for every file (:func:`aioir.data.io.image_size`, cheap); full decoding with
:func:`aioir.data.io.read_image` is done for a few evenly spaced files per source (``sample``),
or for all of them with ``decode=True`` (slow on full datasets, catches truncated files).

>>> import tempfile
>>> report = check_setting("three_task", tempfile.mkdtemp())
>>> report.ok, report.rows[0].split, report.rows[0].column
(False, 'train', 'denoise_15')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aioir.markdown import markdown_table
from aioir.settings.catalog import get_setting
from aioir.settings.sources import collect, decode_check


@dataclass
class CheckRow:
    """One source of the setting and what was found for it."""

    split: str
    column: str
    task: str
    kind: str
    count: int
    paths: list[str]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: bool = False


@dataclass
class CheckReport:
    """Every row of one check; ``ok`` when no row has a problem."""

    setting: str
    root: Path
    rows: list[CheckRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(r.problems for r in self.rows)

    @property
    def problem_count(self) -> int:
        return sum(len(r.problems) for r in self.rows)

    def counts(self, split: str) -> dict[str, int]:
        """``{column: count}`` of a split (``train`` or ``test``); absent optional test sets
        are left out."""
        return {r.column: r.count for r in self.rows if r.split == split and not r.skipped}

    def format(self, limit: int = 20) -> str:
        """The human summary: a table of counts, then every problem (the first ``limit`` per
        source) and what to do."""
        body = []
        for r in self.rows:
            status = "skipped (optional)" if r.skipped else (
                f"{len(r.problems)} problem(s)" if r.problems else "ok")
            body.append([r.split, r.column, r.kind, str(r.count), status, "; ".join(r.paths)])
        lines = [f"setting {self.setting!r} under {self.root}", "",
                 markdown_table(["split", "task", "kind", "images", "status", "expected at"],
                                body, align="lllrll")]
        for r in self.rows:
            if r.problems or r.notes:
                lines += ["", f"{r.split} / {r.column}:"]
                lines += [f"  ERROR {p}" for p in r.problems[:limit]]
                if len(r.problems) > limit:
                    lines.append(f"  ... {len(r.problems) - limit} more errors")
                lines += [f"  note  {n}" for n in r.notes]
        lines.append("")
        if self.ok:
            lines.append("OK: the tree is complete for this setting.")
        else:
            lines.append(f"FAILED: {self.problem_count} problem(s). Paths are relative to "
                         f"{self.root}; see docs/datasets.md for the expected tree.")
        return "\n".join(lines)


def check_setting(setting: Any, root: str | Path, *, decode: bool = False,
                  sample: int = 2) -> CheckReport:
    """Check every source of ``setting`` (a name or :class:`Setting`) under ``root``."""
    s = get_setting(setting).for_tasks(None)
    root = Path(root)
    report = CheckReport(s.name, root)
    for split, specs in (("train", s.train), ("test", s.test)):
        for spec in specs:
            col = collect(spec, root)
            row = CheckRow(split, spec.column, spec.task, spec.kind, col.count, spec.paths(),
                           list(col.problems), list(col.notes))
            missing_only = col.problems and all(
                p.startswith(("missing folder", "missing list file")) for p in col.problems)
            if split == "test" and spec.optional and missing_only:
                row.notes = [f"optional test set not found ({col.problems[0]})"]
                row.problems, row.skipped = [], True
            elif col.count:
                row.problems += decode_check(col, None if decode else sample)
            report.rows.append(row)
    return report
