"""Regenerate the demo's tables in README.md and docs/benchmarks.md from a demo's output folder.

Every documented demo table sits between marker comments, and this script writes it from the
``demo_results.json`` the demo wrote, with the function the demo prints its tables with
(:func:`aioir.report.tables.results_table`), so a documented table is always one a run printed,
never typed::

    <!-- table:demo-quick-crops -->

    | method | ... |

    <!-- /table -->

One folder holds both budgets: ``aioir demo --out D`` writes ``D/default`` and
``aioir demo --quick --out D`` writes ``D/quick``. To regenerate every table after a change of
numbers (the one command)::

    aioir demo --out D && aioir demo --quick --out D && python benchmarks/heldout_demo.py D \
        && python benchmarks/doc_tables.py D

(``heldout_demo.py`` writes ``D/default/heldout_results.json``, the table ``demo-heldout``: the
default demo's networks on the held-out photographs of issue 27).

``--check`` rewrites nothing: it exits 1 with a diff when a documented table differs from what
the folder's run printed (the CI test ``tests/test_doc_tables.py`` does this with a fresh
``aioir demo --quick``). Tables whose budget is not in the folder are left alone (and listed).
``--only quick`` restricts the run to one budget's tables.

A table's source is also named beside it in the docs (the command that wrote the folder), so a
reader can reproduce it; this script only fills the tables.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: the documents whose marked tables this script owns
DOCS = ("README.md", "docs/benchmarks.md")
BUDGETS = ("default", "quick")
_BLOCK = re.compile(r"(<!-- table:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


@dataclass(frozen=True)
class Table:
    """One documented table: the demo budget whose folder it comes from, and how to render it."""

    budget: str
    render: Callable[[dict[str, Any]], str]
    #: a key the budget's results must hold (else the table is left alone)
    needs: str | None = None


def _results_table(key: str) -> Callable[[dict[str, Any]], str]:
    def render(results: dict[str, Any]) -> str:
        from aioir.config.schema import MIOIR_TASKS
        from aioir.report.tables import results_table

        rows = results[key]
        return results_table(rows, list(MIOIR_TASKS), baseline="mixed" if "mixed" in rows else None)

    return render


def _interval(iv: dict[str, Any]) -> str:
    return f"{iv['estimate']:+.2f} [{iv['lo']:+.2f}, {iv['hi']:+.2f}]"


def summary_text(results: dict[str, Any]) -> str:
    """The demo's verdict and its differences to mixed, one line each, from ``demo_results.json``
    (the numbers ``aioir demo`` prints under its tables and writes in ``report.md``).

    >>> iv = {"estimate": -0.3, "lo": -0.71, "hi": 0.05}
    >>> v = {"n_tasks_beating_input": 7, "average_gain_over_input": 2.934}
    >>> lines = summary_text({"verdict": {"tur": v}, "whole_verdict": {"tur": v},
    ...                       "vs_mixed": {"tur": {"crops": iv, "whole": iv}}}).splitlines()
    >>> for part in lines[0].split(" dB "):
    ...     print(part)
    - tur - mixed: -0.30 [-0.71, +0.05]
    on the crops, -0.30 [-0.71, +0.05]
    on the whole photos
    >>> lines[1].split(" (")[1:]
    ['+2.93 dB) and 7/7 of the whole photos', '+2.93 dB)']
    """
    lines = [f"- {s} - mixed: {_interval(d['crops'])} dB on the crops, {_interval(d['whole'])} dB "
             "on the whole photos" for s, d in results.get("vs_mixed", {}).items()]
    for s, v in results["verdict"].items():
        w = results["whole_verdict"][s]
        lines.append(f"- {s}: beats the degraded input on {v['n_tasks_beating_input']}/7 tasks of "
                     f"the crops ({v['average_gain_over_input']:+.2f} dB) and "
                     f"{w['n_tasks_beating_input']}/7 of the whole photos "
                     f"({w['average_gain_over_input']:+.2f} dB)")
    return "\n".join(lines)


#: every documented table, by marker name
TABLES = {
    f"demo{'' if b == 'default' else '-' + b}-{part}": Table(b, render)
    for b in BUDGETS
    for part, render in (("crops", _results_table("rows")), ("whole", _results_table("whole_rows")),
                         ("summary", summary_text))
}
#: the held-out photographs of issue 27 (``python benchmarks/heldout_demo.py D`` writes them)
TABLES["demo-heldout"] = Table("default", _results_table("heldout_rows"), needs="heldout_rows")


def load_results(folder: Path) -> dict[str, dict[str, Any]]:
    """``{budget: demo_results}`` for the budgets present under a demo ``--out`` folder (or a
    folder that is itself one budget's output)."""
    found = {}
    for b in BUDGETS:
        for f in (folder / b / "demo_results.json", folder / "demo_results.json"):
            if f.is_file() and (f.parent.name == b):
                found[b] = json.loads(f.read_text())
                heldout = f.parent / "heldout_results.json"
                if heldout.is_file():
                    found[b]["heldout_rows"] = json.loads(heldout.read_text())["rows"]
                break
    return found


def fill(text: str, results: dict[str, dict[str, Any]], where: str) -> tuple[str, list[str]]:
    """``text`` with every marked table whose budget is in ``results`` regenerated; and the
    names of the tables it holds that were left alone."""
    skipped: list[str] = []

    def repl(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise SystemExit(f"{where}: unknown table marker {name!r} (known: {sorted(TABLES)})")
        table = TABLES[name]
        if table.budget not in results or (table.needs
                                           and table.needs not in results[table.budget]):
            skipped.append(name)
            return m.group(0)
        # blank lines around the table: the comments stay HTML blocks of their own in Markdown
        return m.group(1) + "\n" + table.render(results[table.budget]).strip("\n") + "\n\n" \
            + m.group(4)

    return _BLOCK.sub(repl, text), skipped


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="the demo's --out folder (holding default/, quick/)")
    p.add_argument("--check", action="store_true",
                   help="rewrite nothing; exit 1 with a diff if a documented table differs")
    p.add_argument("--only", choices=BUDGETS, help="only this budget's tables")
    p.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this one)")
    args = p.parse_args(argv)

    results = load_results(args.folder)
    if args.only:
        results = {b: r for b, r in results.items() if b == args.only}
    if not results:
        print(f"{args.folder}: no demo_results.json of "
              f"{args.only or ' or '.join(BUDGETS)} under it (run aioir demo --out there)",
              file=sys.stderr)
        return 2
    differs = False
    for rel in DOCS:
        path = args.root / rel
        old = path.read_text()
        new, skipped = fill(old, results, rel)
        if skipped:
            print(f"{rel}: left alone (no such budget in {args.folder}): {', '.join(skipped)}")
        if new == old:
            print(f"{rel}: tables match {args.folder}")
            continue
        differs = True
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), f"{rel} (committed)",
                f"{rel} (from {args.folder})"))
        else:
            from aioir.files import write_text

            write_text(path, new)
            print(f"{rel}: tables regenerated from {args.folder}")
    if differs and args.check:
        print("the documented demo tables differ from this run's: regenerate them with "
              f"python benchmarks/doc_tables.py {args.folder}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
