"""``aioir restore`` within a memory budget: peak memory and throughput, tiled against whole.

Each restore runs in a fresh process (``--worker``), so its peak resident memory is its own. A
worker loads the network, measures its activation memory (the Restorer's calibration), writes
down its resident memory (``base``), restores the image file into a PNG and reports the peak RSS
of the whole process (``VmHWM`` before and during the restore: imports, weights and calibration
included; not ``ru_maxrss``, which a child started by ``subprocess`` inherits from its parent),
the peak RSS during the restore (``VmHWM`` reset through ``/proc/self/clear_refs`` after
``malloc_trim``, Linux) and that peak above ``base``: the working memory the budget covers; then
the seconds of the restore alone and the plan.

    # the demo network on a 4000 x 3000 photo: default budget (tiled) against whole, 3 rounds
    python benchmarks/bench_restore.py compare --size 4000x3000 --repeats 3 --threads 1
    # the 12000 x 12000 image of issue 16, default budget
    python benchmarks/bench_restore.py single --size 12000x12000 --threads 2
    # peak RSS of the activations / the tracked peak, by window size (memory.resident)
    python benchmarks/bench_restore.py overhead --threads 1

The test image is a real photograph (scikit-image's ``astronaut``, ``coffee`` and ``chelsea``
side by side) resized to the size asked (bicubic), with a little noise so it is not smoother than
a camera's, saved as an 8-bit PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEMO = ("tiny_unet", {"width": 24, "global_tone": True})


def make_image(path: Path, height: int, width: int) -> None:
    import numpy as np
    from PIL import Image
    from skimage import data

    parts = [Image.fromarray(getattr(data, n)()) for n in ("astronaut", "coffee", "chelsea")]
    strip = Image.new("RGB", (sum(p.width for p in parts), max(p.height for p in parts)))
    x = 0
    for p in parts:
        strip.paste(p, (x, 0))
        x += p.width
    img = np.asarray(strip.resize((width, height), Image.BICUBIC), dtype=np.int16)
    rng = np.random.default_rng(0)
    for y in range(0, height, 1000):  # noise in bands: no full-size float copy here either
        band = img[y : y + 1000]
        band += rng.integers(-3, 4, band.shape, dtype=np.int16)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, compress_level=1)


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return 0


def _rss() -> int:
    return _status("VmRSS")


def worker(src: str, dst: str, budget: str, threads: int, model: str, options: str) -> dict:
    import ctypes

    import torch

    from aioir import models
    from aioir.inference.memory import parse_memory
    from aioir.inference.restore import Restorer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = models.build(model, **json.loads(options))
    with torch.no_grad():  # trained-like weights: the identity start would hide nothing, but
        for p in net.parameters():  # keep the output non-trivial for the tiled/whole comparison
            p.add_(torch.randn_like(p) * 0.02)
    r = Restorer(net, max_memory=None if budget == "auto" else parse_memory(budget))
    t0 = time.perf_counter()
    _ = r.cost
    calibration = time.perf_counter() - t0
    plan, _bits = r.file_plan(src)
    before = _status("VmHWM")  # the peak so far: imports, weights, calibration
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # return what the calibration freed
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS (VmHWM) := current RSS
    base = _rss()
    t0 = time.perf_counter()
    r.restore_file(src, dst)
    seconds = time.perf_counter() - t0
    hwm = _status("VmHWM")
    # not ru_maxrss: a child started by subprocess (vfork + exec) inherits the parent's peak
    # there (the parent held the 12000 x 12000 test image), VmHWM is this process's own
    peak = max(before, hwm)
    return {"seconds": seconds, "calibration_s": calibration, "peak_rss": peak, "base_rss": base,
            "restore_peak_rss": hwm, "working": hwm - base, "budget": r.budget,
            "windows": plan.windows,
            "tile": [plan.tile_h, plan.tile_w], "batch": plan.batch,
            "processed_px": plan.processed_pixels, "per_pixel": r.cost.per_pixel}


def run_worker(src: Path, dst: Path, budget: str, threads: int, model: str, options: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--worker", str(src), str(dst), budget, str(threads), model,
           options]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"worker failed:\n{out.stderr}")
    dst.unlink(missing_ok=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def mib(n: float) -> str:
    return f"{n / 2**20:.0f}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(*sys.argv[2:5], int(sys.argv[5]), *sys.argv[6:8])))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("compare", "single", "overhead"))
    p.add_argument("--size", default="4000x3000", help="WIDTHxHEIGHT")
    p.add_argument("--budget", default="auto", help="--max-memory of the tiled run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", default=DEMO[0])
    p.add_argument("--options", default=json.dumps(DEMO[1]))
    a = p.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}; load averages {os.getloadavg()}; "
          f"{a.model} {a.options}; {a.threads} thread(s)", flush=True)
    if a.mode == "overhead":
        overhead(a.threads)
        return
    width, height = map(int, a.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.png", Path(tmp) / "out.png"
        t0 = time.perf_counter()
        make_image(src, height, width)
        print(f"test image {width} x {height}: {src.stat().st_size / 2**20:.1f} MiB PNG "
              f"({time.perf_counter() - t0:.0f} s to make)", flush=True)
        runs = {"tiled": [], "whole": []}
        kinds = ["tiled"] if a.mode == "single" else ["tiled", "whole"]
        for i in range(a.repeats if a.mode == "compare" else 1):
            for kind in kinds:  # alternate, so a change of load hits both alike
                budget = a.budget if kind == "tiled" else "64G"
                r = run_worker(src, dst, budget, a.threads, a.model, a.options)
                runs[kind].append(r)
                print(f"  round {i + 1} {kind}: {r['seconds']:.1f} s, {r['windows']} window(s) "
                      f"of {r['tile'][0]} x {r['tile'][1]} (batch {r['batch']}), peak RSS "
                      f"{mib(r['peak_rss'])} MiB (restore {mib(r['restore_peak_rss'])}), working "
                      f"{mib(r['working'])} MiB of "
                      f"{mib(r['budget'])} MiB budget; load {os.getloadavg()[0]:.2f}", flush=True)
        print("\n| run | windows | tile | seconds (median) | Mpixel/s | process peak RSS (MiB) | "
              "restore peak RSS (MiB) | working memory (MiB) | budget (MiB) |")
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
        mpx = width * height / 1e6
        for kind in kinds:
            rs = runs[kind]
            med = statistics.median(r["seconds"] for r in rs)
            r = rs[0]
            print(f"| {kind} | {r['windows']} | {r['tile'][0]} x {r['tile'][1]} | {med:.1f} | "
                  f"{mpx / med:.3f} | {mib(max(x['peak_rss'] for x in rs))} | "
                  f"{mib(max(x['restore_peak_rss'] for x in rs))} | "
                  f"{mib(max(x['working'] for x in rs))} | "
                  f"{mib(r['budget']) if kind == 'tiled' else '-'} |")
        if a.mode == "compare":
            ratios = [t["seconds"] / w["seconds"] for t, w in zip(runs["tiled"], runs["whole"])]
            print(f"\ntiled / whole time per round: {', '.join(f'{x:.3f}' for x in ratios)}; "
                  f"median {statistics.median(ratios):.3f}")
    print(f"end: load averages {os.getloadavg()}")


def overhead(threads: int) -> None:
    """Peak RSS of the activations against the tracked peak, per window size and network."""
    import ctypes

    import numpy as np
    import torch

    from aioir import models
    from aioir.inference import memory
    from aioir.inference.restore import Restorer
    from aioir.models.tiling import TilePlan

    torch.set_num_threads(threads)
    libc = ctypes.CDLL("libc.so.6")
    h, w = 1200, 1600
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx / 7) % 256, (yy / 5) % 256, ((xx + yy) / 9) % 256], -1).astype(np.uint8)
    print("| network | window | tracked peak (MiB) | activations' peak RSS (MiB) | ratio |")
    print("|---|---|---:|---:|---:|")
    for name, opts, tiles in [("tiny_unet", {"width": 8, "global_tone": True},
                               (128, 256, 400, 600, 1200)),
                              ("tiny_unet", {"width": 24, "global_tone": True},
                               (256, 400, 600, 1200)),
                              ("nafnet", {"width": 16}, (256, 400, 600)),
                              ("srresnet", {}, (256, 400))]:
        r = Restorer(models.build(name, **opts), max_memory=2**36)
        cost = r.cost
        for t in tiles:
            plan = TilePlan.square(h, w, t, 32)
            libc.malloc_trim(0)
            Path("/proc/self/clear_refs").write_text("5")
            base = _rss()
            r.restore_pixels(img, 255.0, bits=8, plan=plan)
            peak = 0
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM"):
                    peak = int(line.split()[1]) * 1024 - base
            known = (h * w * 3 + memory.band_bytes(plan.tile_h, w, 3, 32)
                     + memory.window_bytes(plan.tile_h, plan.tile_w, 1, 3, 3))
            tracked = cost.bytes(plan.tile_h * plan.tile_w)
            print(f"| {name} {opts} | {plan.tile_h} x {plan.tile_w} | {mib(tracked)} | "
                  f"{mib(peak - known)} | {(peak - known) / tracked:.2f} |", flush=True)


if __name__ == "__main__":
    main()
