"""The training stream's samples/s with 0, 2, 4, 8, 14 DataLoader workers, against a step rate.

The stream is the engine's own (``aioir.settings.assemble.train_dataset``: the default 7-task
on-the-fly synthesis on the embedded photographs, ``--patch`` px crops) read through the
engine's own loader (``Trainer._loader``: its step sampler, prefetch and seeding) for about
``--seconds`` per worker count after the first batch (worker start-up excluded). With
``--steps-per-s`` (the GPU's step rate from ``engine_vs_bare.py``) it says whether the stream
keeps up and the fewest workers that do.

    python benchmarks/gpu/data_workers.py --workers 0,2,4,8,14 --patch 128 --batch 8
    python benchmarks/gpu/data_workers.py --tiny                       # dry run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def rate(workers: int, a: argparse.Namespace) -> float:
    from aioir.config.schema import RunConfig
    from aioir.engine.build import build_run
    from aioir.engine.trainer import Trainer

    cfg = RunConfig(name="data-rate")
    cfg.model.name, cfg.model.options = "tiny_unet", {"width": 4}
    cfg.data.patch_size, cfg.data.batch_size, cfg.data.num_workers = a.patch, a.batch, workers
    cfg.train.steps, cfg.train.device, cfg.train.progress = 10**5, "cpu", False
    cfg.val.enabled = False
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        loader = Trainer(build_run(cfg), Path(tmp))._loader()
        it = iter(loader)
        next(it)  # workers started, first batch made
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < a.seconds:
            n += next(it)["lq"].shape[0]
        elapsed = time.perf_counter() - t0
        del it
    return n / elapsed


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", default="0,2,4,8,14")
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--steps-per-s", type=float, default=None,
                   help="the training step rate to feed (batches/s)")
    p.add_argument("--tiny", action="store_true", help="0 and 2 workers, 32 px, 2 s each")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if a.tiny:
        a.workers, a.patch, a.batch, a.seconds = "0,2", 32, 2, 2.0
    torch.set_num_threads(1)
    need = a.steps_per_s * a.batch if a.steps_per_s else None
    rows = []
    for w in [int(x) for x in a.workers.split(",")]:
        r = rate(w, a)
        rows.append({"workers": w, "samples_per_s": r, "patch": a.patch, "batch": a.batch,
                     "needed_samples_per_s": need, "keeps_up": None if need is None else r >= need})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(f"| workers | samples/s ({a.patch} px, 7 tasks) |" + (" keeps up with "
          f"{need:.0f} samples/s? |" if need else ""))
    print("|---:|---:|" + ("---|" if need else ""))
    for r in rows:
        extra = f" {'yes' if r['keeps_up'] else 'no'} |" if need else ""
        print(f"| {r['workers']} | {r['samples_per_s']:.1f} |{extra}")
    if need:
        enough = [r["workers"] for r in rows if r["keeps_up"]]
        print(f"fewest workers that keep up: {enough[0] if enough else 'none measured'}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
