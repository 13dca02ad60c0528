"""Does on-the-fly synthesis outpace training? Samples per second on one core, same machine.

Measures, in one process with one thread (the demo trains each strategy on one thread; loader
workers are single-threaded):

1. **synthesis**: training samples of the 7-task ``embedded`` setting at the demo's patch size,
   built exactly as a run builds them (:func:`aioir.engine.build.build_run`'s stream: the whole
   image's context for rain, haze, SR, JPEG and blur, as MiOIR synthesised), samples/s;
2. **crop-first** (the procedure before MiOIR's full-image context, for the cost of the change):
   the same stream with the degradation applied to the patch alone;
3. **training**: optimizer steps of the demo's backbone and batch (``tiny_unet`` width 24,
   batch 16 x 64 px, mixed), converted to samples/s;
4. per-sample cost of rain and haze on a DF2K-sized image (2040 x 1356), whole-image context.

The ratio synthesis / training is what "synthesis outpaces training" means here: with the
same number of cores for each, the loader produces that many times the samples the trainer
consumes. Medians of ``--runs`` runs; the 1-minute load average is printed (shared machine).

Usage::

    python benchmarks/bench_synthesis.py --samples 140 --steps 8 --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import ClassVar


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=140, help="samples per synthesis run")
    p.add_argument("--steps", type=int, default=8, help="optimizer steps per training run")
    p.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    p.add_argument("--big", type=int, default=4, help="DF2K-sized samples per task (0: skip)")
    return p.parse_args(argv)


def demo_cfg():
    from aioir.demo import BUDGETS, demo_config

    cfg = demo_config("mixed", BUDGETS["default"])
    cfg.train.steps = 1000
    cfg.val.enabled = False
    return cfg


def synthesis_rate(dataset, n: int, start: int) -> float:
    t0 = time.perf_counter()
    for i in range(start, start + n):
        dataset[i]
    return n / (time.perf_counter() - t0)


def crop_first(dataset):
    """The same mix with every degradation applied to the patch alone."""
    import copy

    from aioir.degradations import apply

    out = copy.copy(dataset)
    out.components = []
    for comp in dataset.components:
        c = copy.copy(comp)
        c._degrade = apply  # a custom degradation: SyntheticTask applies it to the window only
        out.components.append(c)
    return out


def training_rate(steps: int) -> float:
    import torch

    from aioir.engine.build import build_run
    from aioir.engine.trainer import Trainer

    cfg = demo_cfg()
    cfg.train.steps = steps + 1
    cfg.train.checkpoint_every = 10**6
    cfg.data.cache = None
    parts = build_run(cfg)
    batches = [torch.utils.data.default_collate([parts.train_data[i] for i in
                                                 range(s * 16, (s + 1) * 16)])
               for s in range(steps + 1)]
    tr = Trainer(parts, "/nonexistent-run-folder")
    stage = parts.stages[0]
    tr._train_step(batches[0], stage)  # warm-up
    t0 = time.perf_counter()
    for b in batches[1:]:
        tr._train_step(b, stage)
    return steps * cfg.data.batch_size / (time.perf_counter() - t0)


def big_image_cost(task: str, n: int) -> tuple[float, float]:
    """Seconds of the first sample (haze: computes the image's pseudo-depth, then cached) and
    per later sample of ``task`` on a 2040 x 1356 image (64 px patch, whole context)."""
    import numpy as np

    from aioir.data.synthetic import SyntheticTask

    class One:
        names: ClassVar[list[str]] = ["df2k.png"]
        cache = True

        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            from scipy import ndimage

            self.img = ndimage.zoom(rng.random((170, 255, 3)), (8, 8, 1), order=1)
            self.img = np.clip(self.img, 0, 1).astype(np.float32)

        def __len__(self) -> int:
            return 1

        def __getitem__(self, j: int):
            return self.img

    comp = SyntheticTask(One(), task, 64)
    t0 = time.perf_counter()
    comp.sample(0, np.random.default_rng(0))  # haze: the depth map is computed once per image
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(n):
        comp.sample(0, np.random.default_rng([1, i]))
    return first, (time.perf_counter() - t0) / n


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from aioir.engine.build import build_run

    print(f"load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    data = build_run(demo_cfg()).train_data
    synthesis_rate(data, 14, 0)  # warm-up: decode and cache the photographs
    old = crop_first(data)
    synth = [synthesis_rate(data, args.samples, 1000 + r * args.samples) for r in range(args.runs)]
    crop = [synthesis_rate(old, args.samples, 1000 + r * args.samples) for r in range(args.runs)]
    train = [training_rate(args.steps) for _ in range(args.runs)]
    s, c, t = (statistics.median(x) for x in (synth, crop, train))
    print("| measure (1 thread) | samples/s |")
    print("|---|---|")
    print(f"| synthesis, whole-image context (MiOIR), embedded 7 tasks, 64 px | {s:.0f} |")
    print(f"| synthesis, patch alone (before) | {c:.0f} |")
    print(f"| training, demo backbone tiny_unet w24, batch 16 x 64 px, mixed | {t:.0f} |")
    print(f"\nsynthesis / training = {s / t:.1f}x (patch alone: {c / t:.1f}x); the context "
          f"costs {100 * (c / s - 1):.0f} % more synthesis time")
    if args.big:
        for task in ("rain", "haze"):
            first, each = big_image_cost(task, args.big)
            print(f"{task} on a 2040 x 1356 image: first sample {1000 * first:.0f} ms, then "
                  f"{1000 * each:.0f} ms per sample")
    print(f"load average after: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
