"""TUR's uncertainty head over training: each task's mean U against its optimum (issue 26).

For one task ``k`` and a U map constant over its pixels, the authors' TUR term
``mean(|e| / U) + 2 log U`` is smallest at ``U = mean|e| / 2``: half the task's L1. A run's
``metrics.jsonl`` logs, every ``train.log_every`` steps, each present task's mean U
(``uncertainty``) and its L1 (``task_loss``), so the gap between the head and its optimum can be
read off any TUR/UE run (a demo's ``tur`` folder, a bench cell). Single-batch values are noisy
(about two samples of a task per batch), so each curve is a running mean over ``--window``
logged steps.

Usage::

    python benchmarks/tur_head_curves.py RUN_DIR[=LABEL] [RUN_DIR[=LABEL] ...] \
        [--figure docs/img/tur_head_curves.png] [--window 5]

prints, per run, a Markdown table of U and its optimum per task at a few steps, and the spread
of U (largest over smallest task) against the spread of the optimum; ``--figure`` draws one
panel per run (U solid, optimum dashed, one colour per task, log scale).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(run: Path) -> dict:
    """``{"steps": [...], "u": {task: [...]}, "opt": {task: [...]}}``: every logged step's U and
    L1 / 2 per task (``None`` where the task was absent from that step's batch)."""
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    recs = [r for r in recs if "uncertainty" in r and "task_loss" in r]
    if not recs:
        raise SystemExit(f"{run}/metrics.jsonl: no step logs the uncertainty (not a TUR/UE run?)")
    tasks = list(dict.fromkeys(t for r in recs for t in r["task_loss"]))
    return {"steps": [r["step"] for r in recs],
            "u": {t: [r["uncertainty"].get(t) for r in recs] for t in tasks},
            "opt": {t: [r["task_loss"][t] / 2 if t in r["task_loss"] else None for r in recs]
                    for t in tasks}}


def average(runs: list[dict]) -> dict:
    """The mean curves of several runs (seeds) logged at the same steps; a step's task value is
    the mean over the runs whose batch held the task."""
    steps = runs[0]["steps"]
    if any(r["steps"] != steps for r in runs):
        raise SystemExit("the runs to average were not logged at the same steps")
    out: dict = {"steps": steps, "u": {}, "opt": {}}
    for key in ("u", "opt"):
        for t in runs[0][key]:
            cols = zip(*(r[key].get(t, [None] * len(steps)) for r in runs))
            out[key][t] = [_mean(list(c)) if any(v is not None for v in c) else None
                           for c in cols]
    return out


def smooth(values: list[float | None], window: int) -> list[float | None]:
    """Running mean over the last ``window`` present values (trailing; ``None`` stays ``None``
    until one value was seen).

    >>> smooth([1.0, None, 3.0, 5.0], 2)
    [1.0, 1.0, 2.0, 4.0]
    """
    out: list[float | None] = []
    seen: list[float] = []
    for v in values:
        if v is not None:
            seen.append(v)
        tail = seen[-window:]
        out.append(sum(tail) / len(tail) if tail else None)
    return out


def summary(curves: dict, window: int, at: list[int]) -> str:
    """A Markdown table: U / optimum per task at the logged steps nearest to ``at``, with the
    spread (largest / smallest over tasks) of each."""
    steps = curves["steps"]
    tasks = list(curves["u"])
    u = {t: smooth(curves["u"][t], window) for t in tasks}
    o = {t: smooth(curves["opt"][t], window) for t in tasks}
    lines = ["| step | " + " | ".join(tasks) + " | U spread | optimum spread |",
             "|---:|" + "---|" * len(tasks) + "---:|---:|"]
    rows = sorted({min(range(len(steps)), key=lambda j: abs(steps[j] - s)) for s in at})
    for i in rows:
        us = [u[t][i] for t in tasks]
        os_ = [o[t][i] for t in tasks]
        cells = [f"{a:.3f} / {b:.3f}" if a is not None and b is not None else ""
                 for a, b in zip(us, os_)]
        ok_u, ok_o = [x for x in us if x], [x for x in os_ if x]
        lines.append(f"| {steps[i]} | " + " | ".join(cells)
                     + f" | {max(ok_u) / min(ok_u):.2f} | {max(ok_o) / min(ok_o):.2f} |")
    half = len(steps) // 2  # the second half's means, as diagnose_strategies.py reports them
    mu = [_mean(curves["u"][t][half:]) for t in tasks]
    mo = [_mean(curves["opt"][t][half:]) for t in tasks]
    lines.append("| 2nd half | " + " | ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(mu, mo))
                 + f" | {max(mu) / min(mu):.2f} | {max(mo) / min(mo):.2f} |")
    lines.append(f"\nacross tasks, 2nd half: slope of log U on log optimum {tracking(mu, mo):.2f} "
                 "(1: U follows each task's optimum; 0: one U for all tasks)")
    return "\n".join(lines)


def tracking(u: list[float], opt: list[float]) -> float:
    """Least-squares slope of ``log u`` on ``log opt`` over tasks.

    >>> follows = tracking([0.01, 0.02, 0.04], [0.02, 0.04, 0.08])
    >>> round(follows, 6), abs(tracking([0.03] * 3, [0.01, 0.02, 0.04])) < 1e-12
    (1.0, True)
    """
    import math

    x, y = [math.log(v) for v in opt], [math.log(v) for v in u]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)


def _mean(values: list[float | None]) -> float:
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs)


def figure(runs: list[tuple[str, dict]], path: Path, window: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 4.2), squeeze=False,
                             sharey=True)
    for ax, (label, c) in zip(axes[0], runs):
        for j, t in enumerate(c["u"]):
            colour = f"C{j}"
            ax.plot(c["steps"], smooth(c["u"][t], window), color=colour, label=f"{t}: U")
            ax.plot(c["steps"], smooth(c["opt"][t], window), color=colour, ls="--", lw=1)
        ax.set_yscale("log")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("mean U per task (solid), its optimum L1/2 (dashed)")
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="RUN_DIR[,RUN_DIR...][=LABEL]: a TUR/UE run folder, "
                   "or several (seeds) averaged into one curve")
    p.add_argument("--figure", type=Path)
    p.add_argument("--window", type=int, default=5, help="running mean over N logged steps")
    args = p.parse_args(argv)
    runs = []
    for spec in args.runs:
        d, _, label = spec.partition("=")
        c = average([load(Path(x)) for x in d.split(",")])
        runs.append((label or d, c))
        last = c["steps"][-1]
        at = [c["steps"][0], 10, 20, 30, last // 4, last // 2, last]
        print(f"\n### {label or d} (U / optimum L1/2, running mean of {args.window} logs)\n")
        print(summary(c, args.window, at))
    if args.figure:
        figure(runs, args.figure, args.window)


if __name__ == "__main__":
    main()
