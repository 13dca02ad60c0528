"""Run a plan of demo-research runs (benchmarks/demo_research_heads.py) in parallel processes.

Screening only: each run trains and is evaluated exactly as ``demo_research_heads.py train``
does, on ``--device`` (``cuda`` when a GPU machine is lent: many runs at once; the quality at a
fixed step count is what is compared, the CPU timing is measured separately with
``demo_research_heads.py time``). The shared data caches of the plan are synthesised first, on
every core; then the runs go to ``--workers`` processes in the plan's order (most important
first) and every finished run is appended as one JSON line to ``OUT/results.jsonl``, so a run
stopped at a time limit keeps what finished. ``demo_research_heads.py table --out OUT`` reads it.

    python benchmarks/demo_research_sweep.py --plan screen --out /tmp/sweep --workers 12 \\
        --device cuda
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo_research_heads as dr  # noqa: E402

HEADS = ["demo", "aware_both", "aware_both_clean", "aware_both_clean_pred",
         "aware_both_clean_mix", "aware_both_pred", "aware_both_mix", "aware_none",
         "aware_tone", "aware_tail", "aware_both_cls1", "aware_both_clean_cls1",
         "aware_both_clean_pred_cls1", "aware_both_film", "aware_both_detach",
         "aware_both_hard", "aware_both_filter", "aware_film"]
LEVERS = ["+lr5e-4", "+lr2e-3", "+ema0.995", "+ema0.999", "+charb", "+w32", "+w16+b2", "+b2",
          "+p96+bs8", "+clip0"]
BASES = ["aware_both_clean_pred", "aware_both"]


def plan(name: str) -> list[tuple[str, str, int, int, bool]]:
    """``(variant, strategy, seed, steps, quick)`` jobs, most important first."""
    jobs: list[tuple[str, str, int, int, bool]] = []
    if name == "smoke":
        return [("demo", "mixed", 0, 3, False), ("aware_both_clean_pred", "mixed", 0, 3, False)]
    if name == "screen":
        for seed in (0, 1, 2):
            jobs += [(v, "mixed", seed, 450, False) for v in HEADS]
        for seed in (0, 1):
            jobs += [(b + lever, "mixed", seed, 450, False) for lever in LEVERS for b in BASES]
        jobs += [(v, s, seed, 450, False) for v in ("demo", *BASES) for s in ("tur", "art")
                 for seed in (0, 1)]
        jobs += [(v, "mixed", seed, 240, True) for v in ("demo", *BASES) for seed in (0, 1)]
        jobs += [(v, "mixed", 0, n, False) for n in (900, 1350)
                 for v in ("demo", *BASES)]
        return jobs
    raise SystemExit(f"unknown plan {name!r}")


def _job(args: tuple) -> dict:
    (variant, strategy, seed, steps, quick), out, device = args
    import torch

    torch.set_num_threads(1)
    if device.startswith("cuda"):
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    t0 = time.perf_counter()
    try:
        payload = dr.run_one(variant, strategy, seed, steps, Path(out), quick=quick,
                             device=device)
    except Exception as exc:  # noqa: BLE001 - report and go on with the plan
        return {"variant": variant, "strategy": strategy, "seed": seed, "steps": steps,
                "error": f"{type(exc).__name__}: {exc}"}
    payload["wall_seconds"] = time.perf_counter() - t0
    return payload


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plan", required=True)
    p.add_argument("--out", required=True, help="run folders and caches")
    p.add_argument("--results", default=None, help="results.jsonl (default OUT/results.jsonl)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cache-workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--later-cache-workers", type=int, default=4)
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = Path(a.results) if a.results else out / "results.jsonl"
    jobs = plan(a.plan)
    from aioir.settings.assemble import resolve_setting, train_dataset

    t0 = time.perf_counter()
    by_cache: dict[str, list[tuple]] = {}
    configs = {}
    for job in jobs:  # jobs grouped by data stream, streams in order of first use
        cfg = dr.variant_config(job[0], job[1], job[2], job[3], out / "cache", job[4])
        by_cache.setdefault(cfg.data.cache, []).append(job)
        configs.setdefault(cfg.data.cache, cfg)

    def log(payload: dict) -> None:
        with results.open("a") as fh:
            fh.write(json.dumps(payload) + "\n")
        if "error" in payload:
            print(f"[{time.perf_counter() - t0:.0f} s] ERROR {payload}", flush=True)
        else:
            print(f"[{time.perf_counter() - t0:.0f} s] {dr.summary_line(payload)} "
                  f"(train {payload['train_seconds']:.0f} s, eval "
                  f"{payload['eval_seconds']:.0f} s)", flush=True)

    ctx = mp.get_context("spawn")
    pending = []
    with ctx.Pool(a.workers) as pool:
        for k, (cache, group) in enumerate(by_cache.items()):
            # the first stream on every core; later ones on a few while the runs train
            cfg = configs[cache]
            cfg.data.cache_workers = a.cache_workers if k == 0 else a.later_cache_workers
            train_dataset(cfg, resolve_setting(cfg))
            print(f"cache {cache} ready at {time.perf_counter() - t0:.0f} s", flush=True)
            pending += [pool.apply_async(_job, ((j, str(out), a.device),), callback=log)
                        for j in group]
        for r in pending:
            r.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
