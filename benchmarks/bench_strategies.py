"""Training cost of each strategy over plain mixed training: time per step and step memory.

One training step = backbone forward, strategy loss (TUR/UE: the uncertainty head on the tapped
feature), the strategy's backward contract (``backward`` + ``finish_backward``: one backward for
weighting strategies, one per task present plus the combination for gradient strategies), Adam
step, ``after_step`` (FAMO: its post-update forward). Time: every strategy runs in the same
process on the same fixed batch in interleaved rounds (mixed, ue, tur, ..., mixed, ...) so that
load drifts affect them alike; the figure is the median step time and its ratio to mixed's.
Memory (``--memory``): each strategy in its own process (median of ``--memory-repeats``
processes, glibc limited to one malloc arena); after building (model, strategy,
optimizer, batch) the process's peak-RSS mark is reset (Linux ``/proc/self/clear_refs``) and the
figure is the peak resident set size over 4 steps minus the resident set size before them, i.e.
the step's working memory (activations, retained graphs, per-task gradient buffers, Adam's
state).

    python benchmarks/bench_strategies.py --model tiny_unet --options '{"width": 24}' \\
        --batch 14 --patch 64 --rounds 7 --steps 3 --threads 1 --memory
"""

from __future__ import annotations

import argparse
import json
import os
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


def _reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


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
    _reset_peak()
    for _ in range(4):
        step()
    peak = _peak_mib()
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
    p.add_argument("--rounds-only-memory", action="store_true",
                   help="measure memory only (no timing)")
    p.add_argument("--memory-repeats", type=int, default=3,
                   help="processes per strategy for the memory figure (median)")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # memory child process
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.one is not None:
        print(json.dumps(_memory_of_one(a, a.one)))
        return
    names = a.strategies.split(",")
    times: dict[str, list[float]] = {n: [] for n in names}
    steps = {} if a.rounds_only_memory else {name: _setup(a, name) for name in names}
    for name in steps:  # warm-up
        steps[name]()
    for _ in range(0 if a.rounds_only_memory else a.rounds):
        for name in names:
            t0 = time.perf_counter()
            for _ in range(a.steps):
                steps[name]()
            times[name].append((time.perf_counter() - t0) / a.steps)
    memory: dict[str, dict[str, float]] = {}
    if a.memory or a.rounds_only_memory:
        base = [sys.executable, __file__, "--model", a.model, "--options", a.options,
                "--batch", str(a.batch), "--patch", str(a.patch), "--tasks", str(a.tasks),
                "--threads", str(a.threads)]
        # one malloc arena: glibc's per-thread arenas otherwise make RSS vary by ~20 % run to run
        env = dict(os.environ, MALLOC_ARENA_MAX="1")
        runs: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(a.memory_repeats):  # interleaved, like the timing
            for name in names:
                res = subprocess.run(base + ["--one", name], capture_output=True, text=True,
                                     check=True, env=env)
                runs[name].append(json.loads(res.stdout.strip().splitlines()[-1])["step_mib"])
        memory = {n: {"step_mib": statistics.median(v)} for n, v in runs.items()}
    t_base = statistics.median(times["mixed"]) if times.get("mixed") else None
    m_base = memory.get("mixed", {}).get("step_mib")
    head = "| strategy | median step (ms) | time vs mixed |"
    rule = "|---|---:|---:|"
    if memory:
        head += " step memory (MiB) | memory vs mixed |"
        rule += "---:|---:|"
    print(head)
    print(rule)
    for name in names:
        med = statistics.median(times[name]) if times[name] else float("nan")
        row = f"| {name} | {med * 1000:.1f} | {med / t_base:.2f} x |" if t_base else \
            f"| {name} | {med * 1000:.1f} | - |"
        if memory:
            mib = memory[name]["step_mib"]
            row += f" {mib:.0f} | {mib / m_base:.2f} x |" if m_base else f" {mib:.0f} | - |"
        print(row)


if __name__ == "__main__":
    main()
