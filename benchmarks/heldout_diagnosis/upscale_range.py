"""Issue 27 diagnosis: can x4 upscaling be recognised as JPEG is, by a test with no content in it?

    python benchmarks/heldout_diagnosis/upscale_range.py [RUNS]

The demo's SR degradation is ``y = U d`` (``U``: PyTorch-style bicubic x4 upscaling, the
matrices of :func:`aioir.degradations.resize.bicubic_matrix`), rounded to 8 bits, so a degraded
image lies in the range of ``U`` up to rounding. The statistic: project each channel on that
range (``Q_h Q_h^T Y Q_w Q_w^T``, ``Q`` an orthonormal basis of the upscaling matrix's columns)
and take the median squared residual in units of the median of uniform rounding noise
(``(0.25 / 255)^2``): about 1 for an upscaled image. Part 1 prints its distribution per task on the
11 training photographs (whole, and one 64 px and one 128 px crop each, degraded by the task's
training ranges, rounded to 8 bits) with the fraction at or below 1.5. Part 2 (with RUNS, the
folder of a demo's strategy runs) prints, for the 231 128-px tiles of the embedded test
photographs, where mixed routes each task's tiles and how many of them score at most 1.5.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from aioir.config import from_dict
from aioir.config.schema import MIOIR_TASKS, RunConfig
from aioir.data.sources import EmbeddedPhotos
from aioir.degradations.api import apply
from aioir.degradations.resize import bicubic_matrix
from aioir.inference.reader import load_network
from aioir.settings.assemble import build_test_sets, resolve_setting

LIMIT = 1.5
tasks = list(MIOIR_TASKS)


def range_residual(img: np.ndarray) -> float:
    """Median squared residual of ``img`` off the range of x4 bicubic upscaling, in units of
    uniform 8-bit rounding noise's median square."""
    def basis(n: int) -> np.ndarray:
        return np.linalg.qr(bicubic_matrix(max(1, n // 4), n))[0]

    qh, qw = basis(img.shape[0]), basis(img.shape[1])
    channels = [img[:, :, c].astype(np.float64) for c in range(img.shape[2])]
    r2 = np.stack([(y - qh @ (qh.T @ y @ qw) @ qw.T) ** 2 for y in channels])
    return float(np.median(r2) * 255.0 ** 2 / 0.0625)


def to_8bit(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0.0, 1.0) * 255.0) / 255.0


photos = EmbeddedPhotos(split="train")
scores: dict[str, dict[str, list[float]]] = {}
for i in range(len(photos)):
    photo = photos[i]
    for crop in ("whole", "64", "128"):
        rng = np.random.default_rng([i, 0 if crop == "whole" else int(crop)])
        img = photo
        if crop != "whole":
            c = int(crop)
            y0 = rng.integers(0, photo.shape[0] - c + 1)
            x0 = rng.integers(0, photo.shape[1] - c + 1)
            img = photo[y0:y0 + c, x0:x0 + c]
        scores.setdefault("clean", {}).setdefault(crop, []).append(range_residual(to_8bit(img)))
        for t in tasks:
            degraded = to_8bit(apply(t, img, rng)[0])
            scores.setdefault(t, {}).setdefault(crop, []).append(range_residual(degraded))
for t, by_crop in scores.items():
    print(f"{t:6s} " + "  ".join(
        f"{crop}: median {np.median(v):8.2f} max {np.max(v):8.2f} <={LIMIT} {np.mean(np.array(v) <= LIMIT):.2f}"
        for crop, v in by_crop.items()), flush=True)

if len(sys.argv) > 1:
    run = Path(sys.argv[1]) / "mixed"
    cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
    sets, _ = build_test_sets(resolve_setting(cfg), cfg.data.root, groups=["main"],
                              max_size=None, tile=128)
    model, _ = load_network(sorted((run / "checkpoints").glob("step_*.pt"))[-1], use_ema=True)
    names = tasks + ["clean"]
    for s in sets:
        routes: dict[str, int] = {}
        low: dict[str, int] = {}
        for lq, _gt, _column, _name in s:
            x = torch.from_numpy(np.ascontiguousarray(lq)).permute(2, 0, 1)[None].float()
            route = names[int(model.degradation_probabilities(x)[0].argmax())]
            routes[route] = routes.get(route, 0) + 1
            if range_residual(lq) <= LIMIT:
                low[route] = low.get(route, 0) + 1
        print(f"{s.task} tiles: routes {routes}, at most {LIMIT} by route {low}", flush=True)
