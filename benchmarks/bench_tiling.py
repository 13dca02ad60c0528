"""Tiled inference: throughput and peak memory against whole-image inference.

Each configuration runs in a fresh subprocess so its peak resident memory (``ru_maxrss``) is its
own; the time is the median of ``--repeats`` restorations of one random image.

    python benchmarks/bench_tiling.py --model tiny_unet --size 1024 --tiles 0,256,512 \
        --overlap 32 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def worker(model: str, options: str, size: int, tile: int, overlap: int, repeats: int,
           threads: int) -> dict:
    import torch

    from aioir import models
    from aioir.models.restore import restore_tensor

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = models.build(model, **json.loads(options)).eval()
    x = torch.rand(1, 3, size, size)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        restore_tensor(net, x, tile=tile or None, overlap=overlap)
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    med = statistics.median(times)
    return {"tile": tile, "seconds": med, "mpix_per_s": size * size / med / 1e6,
            "peak_rss_mb": peak / 1024, "delta_rss_mb": (peak - base) / 1024}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny_unet")
    p.add_argument("--options", default='{"width": 24}')
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--tiles", default="0,256,512", help="0 = whole image")
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker is not None:
        print(json.dumps(worker(a.model, a.options, a.size, a.worker, a.overlap, a.repeats,
                                a.threads)))
        return
    print(f"{a.model} {a.options}, {a.size}x{a.size}, overlap {a.overlap}, {a.threads} thread(s)")
    print("| tile | median s | Mpixel/s | peak RSS (MB) | RSS growth during inference (MB) |")
    print("|---|---:|---:|---:|---:|")
    for tile in map(int, a.tiles.split(",")):
        cmd = [sys.executable, __file__, "--worker", str(tile), "--model", a.model, "--options",
               a.options, "--size", str(a.size), "--overlap", str(a.overlap), "--repeats",
               str(a.repeats), "--threads", str(a.threads)]
        r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        name = "whole" if tile == 0 else str(tile)
        print(f"| {name} | {r['seconds']:.2f} | {r['mpix_per_s']:.3f} | {r['peak_rss_mb']:.0f} | "
              f"{r['delta_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
