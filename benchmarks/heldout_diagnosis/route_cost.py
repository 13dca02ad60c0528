"""Issue 27: fit ``aware_unet``'s ``routing="min_risk"`` cost matrix and temperature on TRAINING
images only (never the held-out or the embedded test photographs)::

    python benchmarks/heldout_diagnosis/route_cost.py D/default/mixed photos|patches OUT.pt [CROP]

``photos``: the demo's 11 embedded training photographs whole (``EmbeddedPhotos("train")``),
each degraded once per task as the whole-photo table degrades (``default_rng([7, task, j])``)
plus the undegraded photographs as the clean class; the classifier reads the whole image, the
heads' PSNRs are measured on its centre ``CROP`` px crop (default 320; same scale, no
resampling: 8 restorations per image of the whole photos take too long on 2 shared cores);
``patches``: 120 cached 64 px training pairs per task (``D/default/data-cache``) plus 120 of
their ground truths as clean. Each image is restored by every head (the route forced; the last
is the identity) and scored as the MiOIR
protocol scores (RGB, 4 px border cropped, uint8; PSNR capped at ``CAP`` dB, an identical
image's). ``C = AwareUNet.fit_route_cost(psnr, class)``; the temperature ``T`` is the grid value
(0.25 to 16) with the least negative log-likelihood of the true class under
``softmax(logits / T)`` on the same images. Writes ``{"cost", "temperature", "psnr", "classes",
"logits"}``.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import yaml

torch.set_num_threads(1)
from aioir.config import from_dict  # noqa: E402
from aioir.config.schema import MIOIR_TASKS, RunConfig  # noqa: E402
from aioir.data.sources import EmbeddedPhotos  # noqa: E402
from aioir.data.testsets import SyntheticTestSet  # noqa: E402
from aioir.data.transforms import center_crop  # noqa: E402
from aioir.demo import WHOLE_SEED  # noqa: E402
from aioir.inference.reader import load_network  # noqa: E402
from aioir.models.aware_unet import AwareUNet  # noqa: E402

CAP = 50.0
run, mode, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
tasks = list(MIOIR_TASKS)
cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
model, _ = load_network(sorted((run / "checkpoints").glob("step_*.pt"))[-1], use_ema=True)
model.eval()
k = model.num_classes


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    a = np.round(np.clip(a, 0, 1) * 255)[4:-4, 4:-4]
    b = np.round(np.clip(b, 0, 1) * 255)[4:-4, 4:-4]
    mse = float(((a - b) ** 2).mean())
    return CAP if mse == 0 else min(CAP, 10 * np.log10(255.0**2 / mse))


CROP = int(sys.argv[4]) if len(sys.argv) > 4 else 320


def images():
    """(image the classifier reads, image restored, its target, class)"""
    if mode == "photos":
        for i, t in enumerate(tasks):
            sets = [
                SyntheticTestSet(
                    EmbeddedPhotos("train"),
                    t,
                    seed=WHOLE_SEED,
                    key="index",
                    task_index=i,
                    max_size=m,
                    multiple=1,
                )
                for m in (None, CROP)
            ]
            for (lq, *_), (lq_c, gt_c, *_) in zip(*sets):
                yield lq, lq_c, gt_c, i
        src = EmbeddedPhotos("train")
        for j in range(len(src)):
            gt = src[j]
            yield gt, center_crop(gt, CROP, 1), center_crop(gt, CROP, 1), len(tasks)
    else:
        cache = run.parent / "data-cache"
        lq, gt = (np.load(cache / f"{n}.npy", mmap_mode="r") for n in ("lq", "gt"))
        tid = np.load(cache / "task_id.npy")
        rng = np.random.default_rng(0)
        picks = [
            rng.choice(np.flatnonzero(tid == i), 120, replace=False) for i in range(len(tasks))
        ]
        for i, idx in enumerate(picks):
            for j in idx:
                x = lq[j].transpose(1, 2, 0) / 255.0
                yield x, x, gt[j].transpose(1, 2, 0) / 255.0, i
        for j in rng.choice(len(gt), 120, replace=False):
            g = gt[j].transpose(1, 2, 0) / 255.0
            yield g, g, g, len(tasks)


original = model._class_logits
rows, classes, logits = [], [], []


def tensor(img):
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]


for n, (seen, lq, gt, c) in enumerate(images()):
    x = tensor(lq)
    with torch.no_grad():
        model._class_logits = original
        logits.append(model.logits(tensor(seen))[0])
        row = []
        for r in range(k):

            def forced(x_, xp, st, detach=False, r=r):
                o = torch.full((x_.shape[0], k), -1e4)
                o[:, r] = 0.0
                return o

            model._class_logits = forced
            y = model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
            row.append(psnr(y, gt))
    rows.append(row)
    classes.append(c)
    print(n, tasks[c] if c < len(tasks) else "clean", " ".join(f"{v:.2f}" for v in row), flush=True)
psnr_t, cls_t, log_t = torch.tensor(rows), torch.tensor(classes), torch.stack(logits)
fit = AwareUNet(
    width=4, num_tasks=len(tasks), clean=0.25 if k > len(tasks) else 0.0, routing="min_risk"
)
cost = fit.fit_route_cost(psnr_t, cls_t)
grid = [2.0**e for e in np.arange(-2, 4.01, 0.25)]
nll = [float(torch.nn.functional.cross_entropy(log_t / t, cls_t)) for t in grid]
temp = float(grid[int(np.argmin(nll))])
names = tasks + ["clean"]
print("C (rows: true class, columns: head):")
for i in range(k):
    print(f"{names[i]:6s}", " ".join(f"{v:6.2f}" for v in cost[i].tolist()))
print(
    "accuracy (argmax)",
    float((log_t.argmax(1) == cls_t).float().mean()),
    "temperature",
    temp,
    "nll",
    min(nll),
    "nll at T=1",
    nll[grid.index(1.0)],
)
torch.save(
    {"cost": cost, "temperature": temp, "psnr": psnr_t, "classes": cls_t, "logits": log_t}, out
)
