"""mixed, TUR and Art on a real backbone within a time budget: the first GPU evidence point.

Each strategy trains the same backbone (default NAFNet, width 32, 1-1-1-1 blocks with 1 middle
block: NAFNet's architecture at a size a minute trains a little) on the default 7-task
on-the-fly stream at ``--patch`` px, one seed, for ``--seconds`` each: the step count is
``--steps-per-s`` x the budget (the rate measured first by a 10-step probe of the same run),
so the cosine schedule is laid out over the steps really run. Validation at the end on the
embedded test sets (``val.max_size`` 128, every image). Writes one JSON row per strategy
(steps, seconds, per-task PSNR, average) and prints a table. One seed each: a first point,
not a comparison with intervals.

    python benchmarks/gpu/strategies_budget.py --device cuda --seconds 50 --workers 14
    python benchmarks/gpu/strategies_budget.py --device cpu --tiny       # dry run
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

BACKBONE = {"width": 32, "enc_blk_nums": [1, 1, 1, 1], "middle_blk_num": 1,
            "dec_blk_nums": [1, 1, 1, 1]}
TINY = {"width": 8, "enc_blk_nums": [1, 1], "middle_blk_num": 1, "dec_blk_nums": [1, 1]}


def config(a: argparse.Namespace, strategy: str, steps: int):
    from aioir.config.schema import RunConfig

    cfg = RunConfig(name=f"budget-{strategy}")
    cfg.model.name, cfg.model.options = "nafnet", TINY if a.tiny else BACKBONE
    cfg.strategy.name = strategy
    cfg.data.patch_size, cfg.data.batch_size, cfg.data.num_workers = a.patch, a.batch, a.workers
    cfg.optim.lr = 5e-4
    cfg.schedule.warmup_steps = min(50, steps // 10)
    cfg.train.steps, cfg.train.seed, cfg.train.device = steps, 0, a.device
    cfg.train.precision, cfg.train.progress = a.precision, False
    cfg.train.log_every, cfg.train.checkpoint_every = 50, 10**6
    cfg.val.enabled, cfg.val.max_size = True, a.patch
    return cfg


def probe_rate(a: argparse.Namespace, work: Path) -> float:
    """Steps/s of the mixed run over steps 5..15 (after start-up)."""
    from aioir.engine.run import train

    marks: dict[int, float] = {}
    cfg = config(a, "mixed", 15)
    cfg.val.enabled = False
    train(cfg, work / "probe", on_step=lambda s: marks.__setitem__(s, time.perf_counter()))
    return 10 / (marks[15] - marks[5])


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="bf16")
    p.add_argument("--strategies", default="mixed,tur,art")
    p.add_argument("--seconds", type=float, default=50.0, help="training budget per strategy")
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--workers", type=int, default=14)
    p.add_argument("--tiny", action="store_true", help="tiny NAFNet, 32 px, 3 steps (dry run)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if a.tiny:
        a.patch, a.batch, a.workers = 32, 2, 0
    logging.getLogger("aioir").setLevel(logging.WARNING)
    from aioir.engine.run import train

    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu-budget-") as tmp:
        work = Path(tmp)
        rate = None if a.tiny else probe_rate(a, work)
        steps = 3 if a.tiny else max(20, int(rate * a.seconds))
        for name in a.strategies.split(","):
            t0 = time.perf_counter()
            res = train(config(a, name, steps), work / name)
            val = res.validation or {}
            rows.append({"strategy": name, "steps": res.step, "probe_steps_per_s": rate,
                         "train_seconds": res.seconds, "wall_seconds": time.perf_counter() - t0,
                         "skipped_steps": res.skipped_steps, "device": a.device,
                         "precision": a.precision, "backbone": config(a, name, 1).model.options,
                         "per_task": val.get("per_task"), "average": val.get("average")})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("| strategy | steps | train s | average PSNR | average SSIM |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        avg = r["average"] or {}
        print(f"| {r['strategy']} | {r['steps']} | {r['train_seconds']:.0f} | "
              f"{avg.get('psnr', float('nan')):.2f} | {avg.get('ssim', float('nan')):.4f} |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
