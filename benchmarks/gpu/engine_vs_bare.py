"""The engine against a bare PyTorch loop on one device: steps/s, samples/s, peak memory.

For each backbone (default: PromptIR and NAFNet at their published sizes) both loops train
from the same seed on the same batches (the run's own training stream, pre-built): the bare
loop is ``autocast(model(lq))``, L1, ``backward``, ``Adam.step``, a parameter EMA; the engine
is a real ``Trainer.fit`` (mixed strategy, EMA, JSONL log, progress off, checkpoint at the end)
timed between its ``on_step`` callbacks after ``--warmup`` steps, its data loader reading the
same pre-built samples (collated per step, as it does; the synthesis rate is measured apart by
``data_workers.py``). The loops run one after the
other (the GPU is not shared with anything; each phase starts from an emptied allocator so
``max_memory_allocated`` is that loop's own peak). Writes one JSON object per backbone to
``--json`` and prints a table.

    python benchmarks/gpu/engine_vs_bare.py --device cuda --precision bf16 --batch 8 --patch 128
    python benchmarks/gpu/engine_vs_bare.py --device cpu --tiny        # dry run, seconds
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

PUBLISHED = {"promptir": {}, "nafnet": {}}  # the registry's defaults are the published sizes
TINY = {"promptir": {"dim": 8, "num_blocks": [1, 1, 1, 1], "num_refinement_blocks": 1,
                     "prompt_dims": [8, 16, 32], "unused_convs": False},
        "nafnet": {"width": 8, "enc_blk_nums": [1, 1], "middle_blk_num": 1,
                   "dec_blk_nums": [1, 1]}}


def config(a: argparse.Namespace, name: str, options: dict, steps: int):
    from aioir.config.schema import RunConfig

    cfg = RunConfig(name=f"gpu-{name}")
    cfg.model.name, cfg.model.options = name, options
    cfg.data.tasks = ["noise", "dark", "jpeg"]  # cheap to synthesise: the loops, not the data
    cfg.data.patch_size, cfg.data.batch_size, cfg.data.num_workers = a.patch, a.batch, 0
    cfg.optim.lr = 1e-4
    cfg.schedule.name = "constant"
    cfg.train.steps, cfg.train.seed, cfg.train.device = steps, 0, a.device
    cfg.train.precision, cfg.train.progress = a.precision, False
    cfg.train.log_every, cfg.train.checkpoint_every = 10, 10**6
    cfg.val.enabled = False
    return cfg


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def bare(cfg, batches: list[dict], device: torch.device, warmup: int) -> tuple[float, float | None]:
    """Median seconds per step of the hand-written loop after ``warmup`` steps; its peak MiB."""
    from aioir import models

    _reset_peak(device)
    torch.manual_seed(cfg.train.seed)
    net = models.build(cfg.model.name, **cfg.model.options).to(device)
    ema = copy.deepcopy(net)
    for q in ema.parameters():
        q.requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.optim.lr)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    ema_p, net_p = list(ema.parameters()), list(net.parameters())
    times = []
    for i, b in enumerate(batches):
        t0 = time.perf_counter()
        lq, gt = b["lq"].to(device, non_blocking=True), b["gt"].to(device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
        with ctx:
            loss = (net(lq).float() - gt).abs().mean()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        with torch.no_grad():
            torch._foreach_lerp_(ema_p, net_p, 1 - cfg.train.ema_decay)
        float(loss)  # a loop reads its loss (logging, divergence check): one sync per step
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    peak = _peak_mib(device)
    del net, ema, opt
    return statistics.median(times), peak


def engine(cfg, samples: list[dict], device: torch.device, warmup: int, work: Path
           ) -> tuple[float, float | None]:
    from aioir.engine.build import build_run
    from aioir.engine.trainer import Trainer

    _reset_peak(device)
    tr = Trainer(build_run(cfg), work)
    tr.dataset = samples  # the same samples, pre-built: the loop's cost, not the synthesis
    times, mark = [], [0.0]

    def on_step(step: int) -> None:
        _sync(device)
        now = time.perf_counter()
        if step > warmup:
            times.append(now - mark[0])
        mark[0] = now

    mark[0] = time.perf_counter()
    tr.fit(on_step=on_step)
    peak = _peak_mib(device)
    del tr
    return statistics.median(times), peak


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="bf16")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--steps", type=int, default=60, help="timed steps per loop")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--models", default="promptir,nafnet")
    p.add_argument("--tiny", action="store_true", help="tiny backbones, 16 px, 3 steps (dry run)")
    p.add_argument("--json", default=None, help="write the results here")
    a = p.parse_args(argv)
    if a.tiny:
        a.batch, a.patch, a.steps, a.warmup = 2, 32, 3, 1
    device = torch.device(a.device)
    rows = []
    for name in a.models.split(","):
        options = (TINY if a.tiny else PUBLISHED)[name]
        cfg = config(a, name, options, a.warmup + a.steps)
        from aioir.settings.assemble import resolve_setting, train_dataset

        data = train_dataset(cfg, resolve_setting(cfg))
        collate = torch.utils.data.default_collate
        samples = [data[i] for i in range(cfg.train.steps * a.batch)]
        batches = [collate(samples[s * a.batch:(s + 1) * a.batch])
                   for s in range(cfg.train.steps)]
        t_bare, m_bare = bare(cfg, batches, device, a.warmup)
        with tempfile.TemporaryDirectory(prefix="gpu-engine-") as tmp:
            t_eng, m_eng = engine(cfg, samples, device, a.warmup, Path(tmp) / "run")
        rows.append({"model": name, "options": options, "batch": a.batch, "patch": a.patch,
                     "precision": a.precision, "device": str(device),
                     "bare_steps_per_s": 1 / t_bare, "engine_steps_per_s": 1 / t_eng,
                     "bare_samples_per_s": a.batch / t_bare,
                     "engine_samples_per_s": a.batch / t_eng,
                     "bare_peak_mib": m_bare, "engine_peak_mib": m_eng,
                     "engine_over_bare_time": t_eng / t_bare})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("| model | bare steps/s | engine steps/s | engine samples/s | bare / engine peak MiB "
          "| engine/bare time |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        mem = (f"{r['bare_peak_mib']:.0f} / {r['engine_peak_mib']:.0f}"
               if r["bare_peak_mib"] is not None else "-")
        print(f"| {r['model']} | {r['bare_steps_per_s']:.2f} | {r['engine_steps_per_s']:.2f} | "
              f"{r['engine_samples_per_s']:.1f} | {mem} | {r['engine_over_bare_time']:.3f} x |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
