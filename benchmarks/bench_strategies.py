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
state). "head" (timed beside the strategies) is the uncertainty head alone on a feature of the
tap's shape (forward, backward into the feature, Adam on its weights): what TUR and UE cannot
avoid paying over mixed. ``--losses`` times only each strategy's own loss (forward, backward
contract, ``after_step``) on a fixed prediction, TUR/UE's head replaced by a fixed map.

    python benchmarks/bench_strategies.py --model tiny_unet --options '{"width": 24}' \\
        --batch 14 --patch 64 --rounds 7 --steps 3 --threads 1 --memory
    python benchmarks/bench_strategies.py --losses --batch 16 --patch 64 --rounds 9 --steps 10
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


def _head_step(a: argparse.Namespace):
    """One step of the uncertainty head alone on a feature of the backbone tap's shape, or None
    when the backbone has no tap."""
    from aioir import models
    from aioir.strategies.uem import UncertaintyHead

    torch.manual_seed(0)
    net = models.build(a.model, **json.loads(a.options))
    if not getattr(net, "uem_tap", None):
        return None, None
    feats: list[torch.Tensor] = []
    hook = net.get_submodule(net.uem_tap).register_forward_hook(
        lambda _m, _i, o: feats.append(o.detach()))
    with torch.no_grad():
        net(torch.rand(a.batch, 3, a.patch, a.patch))
    hook.remove()
    feat = feats[0].clone().requires_grad_(True)
    uem = UncertaintyHead(feat.shape[1])
    opt = torch.optim.Adam(uem.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        feat.grad = None
        uem(feat).mean().backward()
        opt.step()

    return step, tuple(feat.shape)


def _losses_only(a: argparse.Namespace, names: list[str]) -> None:
    """Each strategy's own cost: loss forward + backward contract + ``after_step`` on a fixed
    prediction (TUR/UE: a fixed map instead of the head), interleaved rounds, median."""
    from aioir import strategies
    from aioir.strategies.base import BackwardContext

    lq = torch.rand(a.batch, 3, a.patch, a.patch, generator=torch.Generator().manual_seed(1))
    gt = (lq + 0.1 * torch.randn(lq.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    task_id = torch.arange(a.batch) % a.tasks
    u_map = torch.rand_like(lq) + 0.1
    built = {}
    for name in names:
        strat = strategies.build(name, num_tasks=a.tasks)
        if hasattr(strat, "uncertainty"):  # TUR/UE: a fixed map instead of the head
            strat.uncertainty = lambda pred, _u=u_map: _u.clone().requires_grad_(True)
        built[name] = strat

    def step(name: str) -> None:
        pred = lq.clone().requires_grad_(True)
        out = built[name](pred, gt, task_id)
        built[name].backward(out, BackwardContext(out.loss, None, 1.0, lambda t: t, 1, [pred]))
        built[name].finish_backward([pred], True)
        built[name].after_step(out)

    times: dict[str, list[float]] = {n: [] for n in names}
    for name in names:
        step(name)
    for _ in range(a.rounds):
        for name in names:
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step(name)
            times[name].append((time.perf_counter() - t0) / a.steps)
    base = statistics.median(times["mixed"]) if "mixed" in times else None
    print("| strategy loss alone | median ms | over mixed (ms) |")
    print("|---|---:|---:|")
    for name in names:
        med = statistics.median(times[name])
        extra = f"{(med - base) * 1000:+.2f}" if base else "-"
        print(f"| {name} | {med * 1000:.2f} | {extra} |")


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
    p.add_argument("--losses", action="store_true",
                   help="time only each strategy's loss (forward + backward + after_step) on a "
                        "fixed prediction, the uncertainty head bypassed by a fixed map")
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
    if a.losses:
        _losses_only(a, names)
        return
    steps = {} if a.rounds_only_memory else {name: _setup(a, name) for name in names}
    head_shape = None
    if steps:
        head_step, head_shape = _head_step(a)
        if head_step is not None:
            steps["head"] = head_step
    times: dict[str, list[float]] = {n: [] for n in steps}
    for name in steps:  # warm-up
        steps[name]()
    for _ in range(0 if a.rounds_only_memory else a.rounds):
        for name in steps:
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
    if head_shape is not None:
        med = statistics.median(times["head"])
        share = f"{med / t_base:.2f} x" if t_base else "-"
        print(f"| (uncertainty head alone: fwd+bwd+Adam on the tap, {head_shape}) "
              f"| {med * 1000:.1f} | {share} |" + (" | |" if memory else ""))


if __name__ == "__main__":
    main()
