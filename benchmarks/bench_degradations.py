"""Throughput of every degradation task (images per second) on this machine's CPU.

For each task, ``--images`` calls of :func:`aioir.degradations.apply` (in-distribution draws, a
fresh generator per image) on a ``--size`` x ``--size`` crop of scikit-image's astronaut photo are
timed as one run; the table gives the median over ``--runs`` runs (after one warm-up run), as
images/s and ms per image. BLAS/OpenMP threads are set from ``--threads`` before numpy loads
(default 1: training synthesises data in single-threaded loader workers). The 1-minute load
average before and after is printed, since a shared machine skews timings.

Usage::

    python benchmarks/bench_degradations.py                      # all tasks, 256 px, 5 runs
    python benchmarks/bench_degradations.py --tasks rain,haze --size 128
    python benchmarks/bench_degradations.py --append-md docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="", help="comma-separated task names (default: every task)")
    p.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    p.add_argument("--images", type=int, default=10, help="images per timed run (default 10)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per task; the median is reported (default 5)")
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (default 1)")
    p.add_argument("--append-md", default=None, metavar="FILE", help="append the table as a section to FILE")
    return p.parse_args(argv)


def photo(size: int):
    """A size x size float32 RGB crop (resized if needed) of the astronaut photograph."""
    import numpy as np
    from skimage import data

    from aioir.degradations.resize import resize_bicubic

    img = data.astronaut().astype(np.float32) / 255.0
    if size > img.shape[0]:
        img = np.clip(resize_bicubic(img, (size, size)), 0, 1)
    return np.ascontiguousarray(img[:size, :size])


def bench(task: str, img, images: int, runs: int) -> list[float]:
    """Seconds per image of each timed run."""
    import numpy as np

    from aioir.degradations import apply

    out = []
    for r in range(runs + 1):
        t0 = time.perf_counter()
        for i in range(images):
            apply(task, img, np.random.default_rng([r, i]))
        if r:  # run 0 is the warm-up (imports, caches)
            out.append((time.perf_counter() - t0) / images)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    from aioir.degradations import TASKS

    tasks = [t for t in args.tasks.split(",") if t] or list(TASKS)
    img = photo(args.size)
    load_before = os.getloadavg()[0]
    rows = []
    for task in tasks:
        per_image = bench(task, img, args.images, args.runs)
        med = statistics.median(per_image)
        rows.append((task, 1.0 / med, 1000.0 * med, 1000.0 * (max(per_image) - min(per_image))))
        print(f"{task:>11}: {1 / med:8.1f} img/s  {1000 * med:7.2f} ms/img", flush=True)
    load_after = os.getloadavg()[0]
    cpus = os.cpu_count()
    lines = [
        "| task | images/s | ms / image | spread of runs (ms) |",
        "|---|---:|---:|---:|",
        *[f"| {t} | {ips:.1f} | {ms:.2f} | {spread:.2f} |" for t, ips, ms, spread in rows],
    ]
    table = "\n".join(lines)
    env = (f"{platform.processor() or platform.machine()}, {cpus} CPU cores, {args.threads} thread(s), "
           f"Python {platform.python_version()}, numpy {np.__version__}; "
           f"1-min load average {load_before:.1f} before, {load_after:.1f} after")
    print(table)
    print(env)
    if args.append_md:
        cmd = "python benchmarks/bench_degradations.py " + " ".join(argv if argv is not None else sys.argv[1:])
        section = (
            f"\n## Degradations: synthesis throughput ({args.size} x {args.size})\n\n"
            f"Median over {args.runs} runs of {args.images} images each, in-distribution draws, "
            f"one `aioir.degradations.apply` call per image.\n\n{table}\n\n{env}.\n\nCommand: `{cmd.strip()}`\n"
        )
        with open(args.append_md, "a", encoding="utf-8") as fh:
            fh.write(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
