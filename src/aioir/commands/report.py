"""``aioir report RUN_DIR... [--baseline NAME] [--out DIR]``: tables and figures, one HTML page."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = ("tables and figures of finished runs (train, demo or bench output): one self-contained "
        "HTML page, markdown, CSV and LaTeX")
ORDER = 45


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="run folders, or folders holding run folders (searched recursively)")
    p.add_argument("--baseline", default="auto", metavar="NAME",
                   help="row (method label or strategy name) the others are compared with: "
                        "paired differences with 95 %% intervals (default: the mixed row when "
                        "there is one; 'none': no difference rows)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="report folder (default RUN_DIR/report with one RUN_DIR); never one "
                        "that holds other files")
    p.add_argument("--title", default=None, metavar="TEXT", help="title of the page")
    p.add_argument("--no-figures", action="store_true", help="write the tables only")
    p.add_argument("--no-cost", action="store_true",
                   help="leave out the parameters / MACs / latency columns (no network is run)")


def run(args: argparse.Namespace) -> int:
    from aioir.progress import working

    # the report's modules take seconds to load on a busy machine: say what is starting
    with working(f"report of {', '.join(args.runs)}: loading"):
        from aioir.report.build import make_report

    result = make_report(args.runs, args.out, baseline=args.baseline, title=args.title,
                         progress=True, figures=not args.no_figures,
                         cost=not args.no_cost)
    print(f"{len(result.groups)} method(s) from "
          f"{sum(len(g.runs) for g in result.groups)} run folder(s)")
    for fig in result.skipped:
        print(f"figure not drawn: {fig.title}: {fig.skipped}")
    print(f"{len(result.drawn)} figure(s) drawn. Report: {result.html} "
          f"(also report.md, results.csv, results.tex, report.json in {result.out})")
    return 0
