"""Training overhead of each strategy over plain mixed training.

One training step = backbone forward, strategy loss (TUR/UE: the uncertainty head on the tapped
feature), backward, Adam step, ``after_step``. All strategies are timed in the same process on
the same fixed batch, in interleaved rounds (mixed, ue, tur, art, mixed, ...) so machine load
drifts affect them alike; the figure is the median step time and its ratio to mixed's.

    python benchmarks/bench_strategies.py --model tiny_unet --options '{"width": 24}' \
        --batch 16 --patch 64 --rounds 7 --steps 5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def main() -> None:
    from aioir import models, strategies

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny_unet")
    p.add_argument("--options", default='{"width": 24}', help="backbone options as JSON")
    p.add_argument("--strategies", default=",".join(strategies.names()))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--tasks", type=int, default=7)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=5, help="steps per timed round")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    names = a.strategies.split(",")
    lq = torch.rand(a.batch, 3, a.patch, a.patch)
    gt = (lq + 0.1 * torch.randn_like(lq)).clamp(0, 1)
    task_id = torch.arange(a.batch) % a.tasks
    setups = {}
    for name in names:
        torch.manual_seed(0)
        net = models.build(a.model, **json.loads(a.options))
        strat = strategies.build(name, num_tasks=a.tasks)
        strat.attach(net)
        opt = torch.optim.Adam(list(net.parameters()) + list(strat.parameters()), lr=1e-4)
        setups[name] = (net, strat, opt)

    def step(name: str) -> None:
        net, strat, opt = setups[name]
        opt.zero_grad(set_to_none=True)
        out = strat(net(lq), gt, task_id)
        out.loss.backward()
        opt.step()
        strat.after_step(out)

    for name in names:  # warm-up
        step(name)
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(a.rounds):
        for name in names:
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step(name)
            times[name].append((time.perf_counter() - t0) / a.steps)
    base = statistics.median(times["mixed"]) if "mixed" in times else None
    print(f"| strategy | median step (ms) | vs mixed |")
    print(f"|---|---:|---:|")
    for name in names:
        med = statistics.median(times[name])
        ratio = f"{med / base:.3f}" if base else "-"
        print(f"| {name} | {med * 1000:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
