"""What the strategies did inside an `aioir bench`: read every cell's ``metrics.jsonl`` and print,
per strategy, budget and task, the quantities the issue-11 diagnosis asks about.

* **weight**: the mean effective task weight the strategy applied (``task_weight``, normalised
  over the tasks present in the step; plain ``mixed`` weighs samples, so its weight is the task's
  share of the batch), over the second half of training;
* **U** (TUR/UE): the mean uncertainty the head predicted for the task over the second half, and
  ``U spread``: the ratio of the largest to the smallest task's U (1.0: the head does not tell
  the tasks apart, so TUR's grouped weighting is uniform);
* **U/L1**: each task's U over its own L1 loss (the optimum of ``|e|/U + 2 log U`` is
  ``U = |e|/2``: a ratio far from 0.5 means the head lags the loss);
* **1/U gain**: the mean of ``1/U`` over tasks: how much TUR's loss scales the reconstruction
  gradient relative to plain L1 (before clipping and Adam's normalisation);
* **grad norm**: the median gradient norm before clipping (logged when ``train.grad_clip`` is
  set) and the share of steps it exceeded the clip;
* **clamped** (Art): steps where the global correction's guard gave a task all the weight;
* **samples/task**: the mean number of samples of each present task in a batch.

Usage::

    python benchmarks/diagnose_strategies.py BENCH_DIR [BENCH_DIR ...]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import yaml


def _records(run: Path) -> list[dict]:
    with (run / "metrics.jsonl").open() as f:
        recs = [json.loads(line) for line in f if line.strip()]
    return [r for r in recs if "task_loss" in r]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarise(run: Path) -> dict:
    recs = _records(run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    tasks = list(dict.fromkeys(t for r in recs for t in r["task_loss"]))  # staged runs add tasks
    half = recs[len(recs) // 2:]
    out: dict = {"tasks": tasks, "steps": recs[-1]["step"], "weight": {}, "loss": {}, "u": {}}
    for t in tasks:
        out["weight"][t] = _mean([r["task_weight"][t] for r in half if t in r["task_weight"]])
        out["loss"][t] = _mean([r["task_loss"][t] for r in half if t in r["task_loss"]])
        us = [r["uncertainty"][t] for r in half if t in r.get("uncertainty", {})]
        out["u"][t] = _mean(us) if us else None
    norms = [r["grad_norm"] for r in recs if "grad_norm" in r]
    clip = cfg["train"].get("grad_clip")
    out["grad_norm"] = statistics.median(norms) if norms else None
    out["clipped_share"] = (_mean([n > clip for n in norms]) if norms and clip else None)
    last = recs[-1].get("clamped")
    out["clamped"] = sum(last.values()) if isinstance(last, dict) else None
    batch, present = cfg["data"]["batch_size"], [len(r["task_loss"]) for r in recs]
    out["samples_per_task"] = batch / _mean(present)
    return out


def main(dirs: list[str]) -> None:
    for d in map(Path, dirs):
        print(f"\n## {d}\n")
        cells: dict[tuple[int, str], list[dict]] = {}
        for run in sorted(d.glob("runs/steps_*/seed_*/*")):
            if not (run / "metrics.jsonl").is_file():
                continue
            steps = int(run.parent.parent.name.split("_")[1])
            cells.setdefault((steps, run.name), []).append(summarise(run))
        for (steps, strategy), runs in sorted(cells.items()):
            tasks = runs[0]["tasks"]
            print(f"### {strategy}, {steps} steps, {len(runs)} seeds")
            head = "| | " + " | ".join(tasks) + " |"
            print(head + "\n|" + "---|" * (len(tasks) + 1))

            def row(name: str, fn) -> None:  # fn(run, task) -> float | None
                vals = []
                for t in tasks:  # noqa: B023 - runs in this iteration
                    xs = [fn(r, t) for r in runs if fn(r, t) is not None]  # noqa: B023 - runs in this iteration
                    vals.append(f"{_mean(xs):.3f}" if xs else "")
                print(f"| {name} | " + " | ".join(vals) + " |")

            row("weight (2nd half)", lambda r, t: r["weight"][t])
            row("L1 (2nd half)", lambda r, t: r["loss"][t])
            if runs[0]["u"][tasks[0]] is not None:
                row("U (2nd half)", lambda r, t: r["u"][t])
                row("U / L1", lambda r, t: r["u"][t] / r["loss"][t])
                spread = _mean([max(r["u"].values()) / min(r["u"].values()) for r in runs])
                gain = _mean([_mean([1 / u for u in r["u"].values()]) for r in runs])
                print(f"\nU spread (max/min over tasks) {spread:.2f}; mean 1/U gain {gain:.1f}")
            norms = [r["grad_norm"] for r in runs if r["grad_norm"] is not None]
            if norms:
                share = _mean([r["clipped_share"] for r in runs])
                print(f"\ngrad norm before clipping: median {_mean(norms):.3g}; "
                      f"steps above the clip {100 * share:.0f} %")
            clamped = [r["clamped"] for r in runs if r["clamped"] is not None]
            if clamped:
                print(f"\nArt clamp hits per run: {clamped}")
            print(f"\nsamples per present task per batch: "
                  f"{_mean([r['samples_per_task'] for r in runs]):.2f}\n")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
