"""``aioir restore`` started twice on a small image: the memory measurement kept on disk.

Writes a NAFNet at its published GoPro size (width 32, 17.1 M parameters, random weights) in the
authors' BasicSR ``{"params"}`` layout, a 128 x 160 photograph (scikit-image's astronaut,
resized), then runs the actual command ``aioir restore nafnet.pth in/ --out ...`` ``--rounds``
times in pairs with a fresh, empty cache folder (``AIOIR_CACHE_DIR``) per pair: the first call
measures the network's activation memory and keeps it, the second reads it. Reported per call:
the wall time of the whole process and the time spent measuring (the command prints it), as
medians over the pairs.

    python benchmarks/bench_restore_startup.py --rounds 3 --threads 1
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def prepare(folder: Path) -> Path:
    import numpy as np
    import torch
    from PIL import Image

    from aioir import models

    torch.manual_seed(0)
    net = models.build("nafnet", width=32, enc_blk_nums=[1, 1, 1, 28], middle_blk_num=1,
                       dec_blk_nums=[1, 1, 1, 1])
    weights = folder / "NAFNet-GoPro-width32.pth"
    torch.save({"params": net.state_dict()}, weights)
    try:
        from skimage import data

        photo = Image.fromarray(data.astronaut()).resize((160, 128), Image.BICUBIC)
    except ImportError:  # scikit-image is a test extra; a smooth gradient otherwise
        y, x = np.mgrid[0:128, 0:160]
        photo = Image.fromarray(np.stack([x, y, x + y], -1).astype(np.uint8))
    (folder / "in").mkdir()
    photo.save(folder / "in" / "photo.png")
    return weights


def run_once(weights: Path, folder: Path, out: str, cache: Path, threads: int
             ) -> tuple[float, float]:
    env = dict(os.environ, AIOIR_CACHE_DIR=str(cache), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "aioir", "restore", str(weights),
                           str(folder / "in"), "--out", str(folder / out), "--device", "cpu"],
                          env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    m = re.search(r"bytes per pixel of a window \((?:measured|kept from an earlier run), "
                  r"([0-9.]+) s\)", done.stdout)
    if m is None:
        raise SystemExit("no measuring time in the output:\n" + done.stdout)
    return wall, float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weights = prepare(folder)
        first, second = [], []
        for r in range(args.rounds):
            cache = folder / f"cache{r}"
            first.append(run_once(weights, folder, f"out{r}a", cache, args.threads))
            second.append(run_once(weights, folder, f"out{r}b", cache, args.threads))
            print(f"round {r}: first {first[-1][0]:.1f} s (measuring {first[-1][1]:.2f} s), "
                  f"second {second[-1][0]:.1f} s (measuring {second[-1][1]:.2f} s)", flush=True)
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    print(f"median wall: first {med(first, 0):.1f} s, second {med(second, 0):.1f} s; "
          f"measuring: first {med(first, 1):.2f} s, second {med(second, 1):.3f} s "
          f"({100 * med(second, 1) / med(first, 1):.2f} % of the first)")


if __name__ == "__main__":
    main()
