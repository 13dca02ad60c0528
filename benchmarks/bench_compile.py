"""``train.compile``: step time of a compiled engine against the same engine uncompiled.

Two Trainers are built from one config that differs only in ``train.compile`` (same seed, same
initial weights); both train on the same pre-built batches through the engine's own step
(``Trainer._train_step``: strategy, AMP, gradient clipping, EMA). The first compiled steps
(graph capture and code generation) are timed apart as the compile cost; then the two are
interleaved in rounds of ``--round`` steps inside one process, so machine load hits both alike.
Printed: compile seconds, median ms/step of each, the ratio, and the largest weight difference
after the same steps (kernels fused by inductor sum in another order: not bit-identical).

    OMP_NUM_THREADS=1 python benchmarks/bench_compile.py --model tiny_unet \
        --options '{"width": 16}' --strategy mixed --batch 8 --patch 64 --rounds 8 --round 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def make_trainer(a: argparse.Namespace, compiled: bool, folder: Path):
    from aioir.config.schema import RunConfig
    from aioir.engine.build import build_run
    from aioir.engine.trainer import Trainer

    cfg = RunConfig(name="bench-compile")
    cfg.model.name, cfg.model.options = a.model, json.loads(a.options)
    cfg.strategy.name = a.strategy
    cfg.data.tasks = ["noise", "dark", "jpeg"]
    cfg.data.patch_size, cfg.data.batch_size = a.patch, a.batch
    cfg.train.steps = a.warmup + a.rounds * a.round
    cfg.train.device, cfg.train.precision = a.device, a.precision
    cfg.train.threads, cfg.train.progress = a.threads, False
    cfg.train.compile, cfg.train.compile_backend = compiled, a.backend
    cfg.schedule.name = "constant"
    cfg.val.enabled = False
    return Trainer(build_run(cfg), folder)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny_unet")
    p.add_argument("--options", default='{"width": 16}')
    p.add_argument("--strategy", default="mixed")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--backend", default="inductor")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=2, help="steps before timing (compile here)")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--round", type=int, default=5, help="steps per timed round")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory(prefix="bench-compile-") as tmp:
        return run(a, Path(tmp))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(a: argparse.Namespace, work: Path) -> dict:
    from aioir.engine.stages import stage_at

    plain = make_trainer(a, False, work / "plain")
    fast = make_trainer(a, True, work / "compiled")
    total = a.warmup + a.rounds * a.round
    loader = iter(plain._loader())
    batches = [next(loader) for _ in range(total)]
    stage = stage_at(plain.stages, 0)
    for tr in (plain, fast):
        tr.model.train()
        tr.strategy.train()

    def steps(tr, lo: int, hi: int) -> float:
        _sync(tr.device)
        t0 = time.perf_counter()
        for s in range(lo, hi):
            tr._train_step(tr._to_device(batches[s]), stage)
        _sync(tr.device)
        return (time.perf_counter() - t0) / (hi - lo)

    compile_s = steps(fast, 0, a.warmup) * a.warmup
    steps(plain, 0, a.warmup)
    t_plain, t_fast = [], []
    for r in range(a.rounds):
        lo = a.warmup + r * a.round
        t_plain.append(steps(plain, lo, lo + a.round))
        t_fast.append(steps(fast, lo, lo + a.round))
    sa, sb = plain.model.state_dict(), fast.model.state_dict()
    diff = max(float((sa[k].float() - sb[k].float()).abs().max()) for k in sa)
    mp, mf = statistics.median(t_plain), statistics.median(t_fast)
    print(f"{a.model} {a.options}, {a.strategy}, batch {a.batch} x {a.patch} px, {a.device} "
          f"{a.precision}, backend {a.backend}, {a.threads} thread(s), {a.rounds} interleaved "
          f"rounds of {a.round} steps", file=sys.stderr)
    print("| engine | median ms/step |")
    print("|---|---:|")
    print(f"| uncompiled | {1000 * mp:.1f} |")
    print(f"| train.compile | {1000 * mf:.1f} |")
    print(f"| compiled / uncompiled | {mf / mp:.3f} x |")
    print(f"\nfirst {a.warmup} compiled steps (graph capture + code generation): {compile_s:.1f} s")
    print(f"largest weight difference after {total} steps: {diff:.2e}")
    return {"plain_ms": 1000 * mp, "compiled_ms": 1000 * mf, "ratio": mf / mp,
            "compile_s": compile_s, "weight_diff": diff}


if __name__ == "__main__":
    main()
