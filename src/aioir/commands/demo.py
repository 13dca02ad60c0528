"""``aioir demo [--quick] [--out DIR]``: mixed vs TUR vs Art on the embedded photographs."""

from __future__ import annotations

import argparse

NAME = "demo"
HELP = "train mixed, TUR and Art on the embedded photos (7 MiOIR tasks, CPU) and compare them"
ORDER = 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="about 2 minutes instead of about 11")
    p.add_argument("--out", default="aioir-demo", help="output folder (default ./aioir-demo)")
    p.add_argument("--strategies", default="mixed,tur,art",
                   help="comma-separated strategies to compare (default mixed,tur,art)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=None,
                   help="runs trained at once (default: all, one thread each)")


def run(args: argparse.Namespace) -> int:
    from aioir.progress import working

    strategies = tuple(s.strip() for s in args.strategies.split(",") if s.strip())
    # PyTorch, the data and the workers take seconds before the first bar: a running clock
    # says so (it stops where the first bar opens)
    with working("preparing the demo (data, networks)"):
        from aioir.demo import run_demo

        res = run_demo(args.out, quick=args.quick, strategies=strategies, seed=args.seed,
                       jobs=args.jobs)
    print("\nTest crops:\n")
    print(res["table"])
    print("\nWhole photographs, restored at full size:\n")
    print(res["whole_table"])
    print(f"\n{res['protocol'].rstrip('.')}. Cells: PSNR (dB) / SSIM.")
    for s, v in res["verdict"].items():
        w = res["whole_verdict"][s]
        print(f"{s}: beats the degraded input on {v['n_tasks_beating_input']}/7 tasks of the "
              f"crops ({v['average_gain_over_input']:+.2f} dB) and {w['n_tasks_beating_input']}/7 "
              f"of the whole photos ({w['average_gain_over_input']:+.2f} dB)")
    print(f"\nDone in {res['seconds']:.0f} s. Report: {res['out'] / 'report.md'}; "
          f"run folders under {res['out']}")
    figures = res["report"]
    for fig in figures.skipped:
        print(f"figure not drawn: {fig.title}: {fig.skipped}")
    print(f"Restoration grid and plots ({len(figures.drawn)} figures): {figures.html} "
          f"(one page, opens offline; PNG files in {figures.out / 'figures'})")
    return 0
