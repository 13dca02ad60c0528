"""The on-the-fly training stream on DF2K-sized photographs: samples/s of one worker per task.

DF2K's training photographs are about 2040 x 1356 px; the embedded scikit-image photographs
are resized to that size (``skimage.transform.resize``, anti-aliased) so every task degrades
what a real MiOIR run degrades. One process is one DataLoader worker: its samples/s per task
times the workers is what a GPU can be fed. Each task's ``SyntheticTask.sample`` (crop,
flip/rotation, degradation of the crop's context region, 8-bit rounding) is timed on
``--samples`` samples (median of per-sample times and the mean rate).

Rain min-max normalises its streak layer over the whole photograph, so every crop synthesises
the whole photograph's streak map. ``--rain-before`` also times the former path (the whole
image rained, clipped and rounded, then cut: what ``apply`` + crop does), interleaved sample by
sample with the current one, and checks both give the same crop.

    OMP_NUM_THREADS=1 python benchmarks/bench_pipeline.py --patch 128 --samples 12 --rain-before
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


class Resized:
    """The embedded photographs resized to ``size`` (H, W): an image source."""

    def __init__(self, size: tuple[int, int]) -> None:
        from skimage.transform import resize

        from aioir.data.sources import EmbeddedPhotos

        base = EmbeddedPhotos("train")
        self.names = list(base.names)[:4]
        self.images = [resize(base[i], (*size, 3), anti_aliasing=True).astype(np.float32)
                       for i in range(len(self.names))]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.images[i]


def old_rain_sample(comp, item: int, rng: np.random.Generator) -> np.ndarray:
    """The former training path for rain: the whole photograph rained, then cut."""
    from aioir.data.transforms import as_hw, dihedral, quantize8
    from aioir.degradations import apply, draw_params

    img = comp.source[item]
    ph, pw = as_hw(comp.patch_size)
    y = int(rng.integers(0, img.shape[0] - ph + 1))
    x = int(rng.integers(0, img.shape[1] - pw + 1))
    k = int(rng.integers(8))
    params = draw_params("rain", rng)
    whole, _ = apply("rain", np.array(img, dtype=np.float32), rng, **params)
    lq = quantize8(np.clip(whole, 0.0, 1.0)[y:y + ph, x:x + pw])
    return dihedral(lq, k)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--samples", type=int, default=12)
    p.add_argument("--size", default="1356,2040", help="photograph H,W")
    p.add_argument("--tasks", default="sr,blur,noise,jpeg,rain,haze,dark")
    p.add_argument("--rain-before", action="store_true")
    a = p.parse_args()
    from aioir.data.synthetic import SyntheticTask

    source = Resized(tuple(int(v) for v in a.size.split(",")))
    print(f"{len(source)} photographs at {a.size.replace(',', ' x ')} px, {a.patch} px crops, "
          f"{a.samples} samples per task, one process (= one worker)")
    print("| task | median s/sample | samples/s per worker |")
    print("|---|---:|---:|")
    for task in a.tasks.split(","):
        comp = SyntheticTask(source, task, a.patch)
        comp.sample(0, np.random.default_rng([0, 10**6]))  # warm-up (haze: the depth map cache)
        times = []
        for i in range(a.samples):
            t0 = time.perf_counter()
            comp.sample(i % len(source), np.random.default_rng([0, i]))
            times.append(time.perf_counter() - t0)
        print(f"| {task} | {statistics.median(times):.3f} | {len(times) / sum(times):.2f} |")
    if not a.rain_before:
        return
    comp = SyntheticTask(source, "rain", a.patch)
    new_t, old_t = [], []
    for i in range(a.samples):  # interleaved: load drifts hit both
        t0 = time.perf_counter()
        new = comp.sample(i % len(source), np.random.default_rng([1, i]))["lq"].numpy()
        new_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        old = old_rain_sample(comp, i % len(source), np.random.default_rng([1, i]))
        old_t.append(time.perf_counter() - t0)
        assert np.array_equal(new, np.ascontiguousarray(old.transpose(2, 0, 1))), i
    mo, mn = statistics.median(old_t), statistics.median(new_t)
    print(f"\nrain, {a.samples} interleaved samples, identical crops: whole image then cut "
          f"{mo:.3f} s/sample, window path {mn:.3f} s/sample ({mo / mn:.2f} x faster)")


if __name__ == "__main__":
    main()
