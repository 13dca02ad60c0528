"""Issue 27 diagnosis: the demo's statistics LDA refitted offline on degraded 64-px patches of
the 11 training photographs, plain (``none``) or with 3 augmented copies of each photograph
(``aug``: scale 0.5-1, per-channel gain 0.85-1.15, gamma 0.8-1.25, sensor noise sigma <= 2/255)::

    python benchmarks/heldout_diagnosis/refit_lda.py none|aug PATCHES_PER_TASK OUT.pt

(the docs' rows: 240 patches per task; evaluate with ``routes.py ... f=OUT.pt@whole``). OUT.pt
also holds the patches' statistics with the JPEG lattice appended (``S``, labels ``y``), which
``lattice_routes.py`` fits its variants on.
"""

import sys

import numpy as np
import torch
from skimage.transform import rescale

from aioir.config.schema import MIOIR_TASKS
from aioir.data.sources import EmbeddedPhotos
from aioir.data.synthetic import SyntheticTask
from aioir.models.degradation_stats import degradation_stats, jpeg_lattice

torch.set_num_threads(1)

aug, n_per, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tasks = list(MIOIR_TASKS)
base = EmbeddedPhotos("train")
rng = np.random.default_rng(123)


class ListSource:
    cache = True

    def __init__(self, imgs):
        self.imgs, self.names = imgs, [str(i) for i in range(len(imgs))]

    def __len__(self):
        return len(self.imgs)

    def __getitem__(self, i):
        return self.imgs[i % len(self.imgs)]


imgs = []
for i in range(len(base)):
    img = np.asarray(base[i], np.float32)
    copies = 1 if aug == "none" else 4
    for c in range(copies):
        x = img
        if aug != "none" and c > 0:
            s = rng.uniform(0.5, 1.0)
            x = rescale(x, s, channel_axis=2, anti_aliasing=True).astype(np.float32)
            x = np.clip(x * rng.uniform(0.85, 1.15, 3)[None, None], 0, 1) ** rng.uniform(0.8, 1.25)
            x = x + rng.normal(0, rng.uniform(0, 2.0) / 255, x.shape)
            x = (np.round(np.clip(x, 0, 1) * 255) / 255).astype(np.float32)
        imgs.append(np.ascontiguousarray(x))
src = ListSource(imgs)
feats, labels, lattice = [], [], []
for k, t in enumerate(tasks):
    comp = SyntheticTask(src, t, 64)
    lq, gt = [], []
    for j in range(n_per):
        s = comp.sample(int(rng.integers(len(src))), np.random.default_rng([k, j, 99]))
        lq.append(s["lq"])
        gt.append(s["gt"])
    feats.append(degradation_stats(torch.stack(lq)).double())
    lattice.append(jpeg_lattice(torch.stack(lq)).double())
    labels += [k] * n_per
    n_clean = (n_per * 25 // 100) // 7 * 7 // 4 + n_per // 4  # 74 of 240 (the runs in the docs)
    feats.append(degradation_stats(torch.stack(gt[:n_clean])).double())
    lattice.append(jpeg_lattice(torch.stack(gt[:n_clean])).double())
    labels += [len(tasks)] * feats[-1].shape[0]
    print(t, flush=True)
S, y = torch.cat(feats), torch.tensor(labels)
K = len(tasks) + 1
means = torch.stack([S[y == k].mean(0) for k in range(K)])
R = S - means[y]
within = R.T @ R / len(S)
reg = within + 0.1 * torch.diag(within.diagonal().clamp(min=1e-12))
w = torch.linalg.solve(reg, means.T).T
b = -0.5 * (w * means).sum(1)
torch.save({"w": w.float(), "b": b.float(), "counts": torch.bincount(y),
            "S": torch.cat([S, torch.cat(lattice)], 1), "y": y}, out)
print(torch.bincount(y))
