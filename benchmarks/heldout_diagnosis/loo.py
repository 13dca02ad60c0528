"""Issue 27: choosing the classifier's training stream without the held-out photographs.

Leave one training photograph out: the ``stats`` LDA (plus the JPEG-lattice rule,
``lattice_class``) is fitted on 64 px patches of the other 10 of the demo's 11 training
photographs (or of them and ``C`` scale/colour/tone/noise variants each,
``data.classifier_copies``), then classifies the 11th degraded whole once per task (seed 7, as
the demo's whole-photograph table) and undegraded ("clean"); summed over the 11 folds::

    python benchmarks/heldout_diagnosis/loo.py COPIES [RIDGES [VIEWS [dcp]]]

COPIES, RIDGES (the LDA's ``cls_ridge``), VIEWS (``whole``, ``t64``, ``t128``: ``cls_tile``)
comma-separated; ``dcp`` adds three statistics to the 21, the 10/50/90 % quantiles of the dark
channel (He et al.: the channel minimum's minimum over 15 x 15 px); about 960 patches per task
(as the demo's stream) and, with each task's patches, 0.44 times as many undegraded ones (the
clean class: about 3 times a task's count; the demo's stream has 1.75). Prints the routes right per class
(11 images each) and in all (88).
"""

import sys

import numpy as np
import torch
import torch.nn.functional as F

from aioir.config.schema import MIOIR_TASKS
from aioir.data.sources import EmbeddedPhotos
from aioir.data.synthetic import SyntheticTask
from aioir.data.testsets import SyntheticTestSet
from aioir.data.variants import PhotoVariants
from aioir.models.degradation_stats import degradation_stats as stats21
from aioir.models.degradation_stats import jpeg_lattice, quantiles, tiled_stats

torch.set_num_threads(1)
copies_list = [int(v) for v in sys.argv[1].split(",")]
ridges = [float(v) for v in sys.argv[2].split(",")] if len(sys.argv) > 2 else [0.1]
views = sys.argv[3].split(",") if len(sys.argv) > 3 else ["whole"]
dark_channel = len(sys.argv) > 4 and sys.argv[4] == "dcp"
tasks = list(MIOIR_TASKS)
K, JPEG = len(tasks) + 1, tasks.index("jpeg")
names = [*tasks, "clean"]
src = EmbeddedPhotos("train")
P = len(src)


def degradation_stats(x):
    if not dark_channel:
        return stats21(x)
    dark = -F.max_pool2d(-x.min(1, keepdim=True).values, 15, 1, 7).flatten(1)
    picked = dark[:, ::max(1, dark.shape[1] // 4096)]
    return torch.cat([stats21(x), quantiles(picked, torch.tensor([0.1, 0.5, 0.9]))], 1)


def as_x(img):
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()


def view_stats(x):
    out = {"whole": degradation_stats(x).double()[0]}
    for v in views:
        if v.startswith("t"):
            out[v] = tiled_stats(x, int(v[1:])).double()[0]
    return out


test = []  # (photo, class, statistics per view, lattice)
for k, t in enumerate(tasks):
    ts = SyntheticTestSet(src, t, seed=7, key="index", task_index=k, max_size=None, multiple=8)
    for j, (lq, gt, _col, _name) in enumerate(ts):
        test.append((j, k, view_stats(as_x(lq)), float(jpeg_lattice(as_x(lq)))))
        if k == 0:
            test.append((j, K - 1, view_stats(as_x(gt)), float(jpeg_lattice(as_x(gt)))))

for c in copies_list:
    comps = {t: SyntheticTask(PhotoVariants(src, c) if c else src, t, 64) for t in tasks}
    n = max(1, 960 // (P * (c + 1)))
    m = min(n, max(1, round(n * 1.75 / 4)))
    S, y, ph = [], [], []
    for k, t in enumerate(tasks):
        for p in range(P):
            for v in range(c + 1):
                pairs = [comps[t].sample(p * (c + 1) + v, np.random.default_rng([c, k, p, v, r]))
                         for r in range(n)]
                S.append(degradation_stats(torch.stack([s["lq"] for s in pairs])).double())
                S.append(degradation_stats(torch.stack([s["gt"] for s in pairs[:m]])).double())
                y += [k] * n + [K - 1] * m
                ph += [p] * (n + m)
    S_all, y_all, ph_all = torch.cat(S), torch.tensor(y), torch.tensor(ph)
    for ridge in ridges:
        for view in views:
            right = np.zeros((K, 2), dtype=int)
            for p in range(P):
                keep = ph_all != p
                Sc, yc = S_all[keep], y_all[keep]
                means = torch.stack([Sc[yc == k].mean(0) for k in range(K)])
                r = Sc - means[yc]
                within = r.T @ r / len(Sc)
                reg = within + ridge * torch.diag(within.diagonal().clamp(min=1e-12))
                w = torch.linalg.solve(reg, means.T).T
                b = -0.5 * (w * means).sum(1)
                for j, k, st, lattice in test:
                    if j == p:
                        logits = st[view] @ w.T + b
                        logits[JPEG] = -1e9
                        pred = JPEG if lattice >= 0.5 else int(logits.argmax())
                        right[k] += (pred == k, 1)
            print(f"copies={c} ridge={ridge} {view}: "
                  + " ".join(f"{names[k]} {right[k, 0]}/{right[k, 1]}" for k in range(K))
                  + f"; all {right[:, 0].sum()}/{right[:, 1].sum()}", flush=True)
