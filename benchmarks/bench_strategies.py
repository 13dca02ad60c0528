"""Training cost of each strategy over plain mixed training: time per step and step memory.

One training step = backbone forward, strategy loss (TUR/UE: the uncertainty head on the tapped
feature), the strategy's backward contract (``backward`` + ``finish_backward``: one backward for
weighting strategies, one per task present plus the combination for gradient strategies), Adam
step, ``after_step`` (FAMO: its post-update forward). Time: every strategy runs in the same
process on the same fixed batch in interleaved rounds (mixed, ue, tur, ..., mixed, ...) so that
load drifts affect them alike; the figure is the median step time and its ratio to mixed's.
Memory (``--memory``): each strategy in its own process; the figure is the peak resident set
size over 4 steps minus the resident set size after building (model, strategy, optimizer, batch),
i.e. the step's working memory (activations, retained graphs, per-task gradient buffers, Adam's
state).

    python benchmarks/bench_strategies.py --model tiny_unet --options '{"width": 24}' \\
        --batch 14 --patch 64 --rounds 7 --steps 3 --threads 1 --memory
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _setup(a: argparse.Namespace, name: str):
    from aioir import models, strategies
    from aioir.strategies.base import BackwardContext

    torch.manual_seed(0)
    net = models.build(a.model, **json.loads(a.options))
    strat = strategies.build(name, num_tasks=a.tasks)
    strat.attach(net)
    params = [p for p in list(net.parameters()) + list(strat.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)
    lq = torch.rand(a.batch, 3, a.patch, a.patch, generator=torch.Generator().manual_seed(1))
    gt = (lq + 0.1 * torch.randn(lq.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    task_id = torch.arange(a.batch) % a.tasks

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = strat(net(lq), gt, task_id)
        strat.backward(out, BackwardContext(out.loss, None, 1.0, lambda t: t, 1, params))
        strat.finish_backward(params, True)
        opt.step()
        strat.after_step(out)

    return step


def _memory_of_one(a: argparse.Namespace, name: str) -> dict[str, float]:
    step = _setup(a, name)
    before = _rss_mib()
    for _ in range(4):
        step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"before_mib": before, "peak_mib": peak, "step_mib": peak - before}


def main() -> None:
    from aioir import strategies

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny_unet")
    p.add_argument("--options", default='{"width": 24}', help="backbone options as JSON")
    p.add_argument("--strategies", default=",".join(strategies.names()))
    p.add_argument("--batch", type=int, default=14)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--tasks", type=int, default=7)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=3, help="steps per timed round")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--memory", action="store_true", help="also measure step memory")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # memory child process
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.one is not None:
        print(json.dumps(_memory_of_one(a, a.one)))
        return
    names = a.strategies.split(",")
    steps = {name: _setup(a, name) for name in names}
    for name in names:  # warm-up
        steps[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(a.rounds):
        for name in names:
            t0 = time.perf_counter()
            for _ in range(a.steps):
                steps[name]()
            times[name].append((time.perf_counter() - t0) / a.steps)
    memory: dict[str, dict[str, float]] = {}
    if a.memory:
        base = [sys.executable, __file__, "--model", a.model, "--options", a.options,
                "--batch", str(a.batch), "--patch", str(a.patch), "--tasks", str(a.tasks),
                "--threads", str(a.threads)]
        for name in names:
            res = subprocess.run(base + ["--one", name], capture_output=True, text=True,
                                 check=True)
            memory[name] = json.loads(res.stdout.strip().splitlines()[-1])
    t_base = statistics.median(times["mixed"]) if "mixed" in times else None
    m_base = memory.get("mixed", {}).get("step_mib")
    head = "| strategy | median step (ms) | time vs mixed |"
    rule = "|---|---:|---:|"
    if memory:
        head += " step memory (MiB) | memory vs mixed |"
        rule += "---:|---:|"
    print(head)
    print(rule)
    for name in names:
        med = statistics.median(times[name])
        row = f"| {name} | {med * 1000:.1f} | {med / t_base:.2f} x |" if t_base else \
            f"| {name} | {med * 1000:.1f} | - |"
        if memory:
            mib = memory[name]["step_mib"]
            row += f" {mib:.0f} | {mib / m_base:.2f} x |" if m_base else f" {mib:.0f} | - |"
        print(row)


if __name__ == "__main__":
    main()
