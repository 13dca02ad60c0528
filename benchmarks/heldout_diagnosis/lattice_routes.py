"""Issue 27 diagnosis: the JPEG-lattice rule and LDA variants on today's heads, by lookup::

    python benchmarks/heldout_diagnosis/lattice_routes.py STRATEGY FIT.pt heldout|whole|crops VARIANTS

FIT.pt: statistics of training patches saved by ``refit_lda.py`` (``S`` with the lattice as
its last column, ``y``). VARIANTS (comma-separated): ``lda22`` (the LDA over the 21 statistics
and the lattice), ``lda21`` (over the 21), ``lda21+g`` / ``lda21+g.1`` (plus a per-class
Gaussian log-likelihood of the lattice, std floor 0.03 / 0.1), ``rule`` (the lattice >= 0.5
decides JPEG, the LDA over the 21 the rest: ``aware_unet``'s ``lattice_class``), then the oracle
(true task) and the input. The heads are runs/demo_base's (trained with the true task's gate: a
routing change equals training with it); each image's PSNR under each forced route is computed
once and cached in runs/demo_base/lattice/STRATEGY_WHICH.json.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from aioir.config import from_dict
from aioir.config.schema import MIOIR_TASKS, RunConfig
from aioir.demo import whole_image_sets
from aioir.inference.reader import load_network
from aioir.models.degradation_stats import degradation_stats, jpeg_lattice
from aioir.settings.assemble import build_test_sets, resolve_setting, val_protocol

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
torch.set_num_threads(1)
from forced import ForcedRoutes  # noqa: E402 - this folder, the script's
from heldout_demo import heldout_sets  # noqa: E402 - found through the sys.path line above

strategy, fit_path, which = sys.argv[1], sys.argv[2], sys.argv[3]
variants = sys.argv[4].split(",")
tasks = list(MIOIR_TASKS)
K, JPEG = len(tasks) + 1, tasks.index("jpeg")
run = ROOT / "runs/demo_base/default" / strategy
cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
setting = resolve_setting(cfg)
protocol = val_protocol(cfg, setting)
if which == "heldout":
    sets = heldout_sets(ROOT / "runs/demo_base/heldout-photos", tasks)
elif which == "whole":
    sets = whole_image_sets(cfg, None)
else:
    sets, _ = build_test_sets(setting, cfg.data.root, groups=["main"], max_size=cfg.val.max_size)
model, _ = load_network(sorted((run / "checkpoints").glob("step_*.pt"))[-1], use_ema=True)
cache_path = ROOT / "runs/demo_base/lattice" / f"{strategy}_{which}.json"
cache_path.parent.mkdir(parents=True, exist_ok=True)
forced_routes = ForcedRoutes(model, protocol, len(tasks), cache_path)


def score(s, idx, route):
    return forced_routes.score(s, idx, route)


fit = torch.load(fit_path)
S, y = fit["S"], fit["y"]


def lda(cols, ridge=0.1):
    sc = S[:, cols]
    means = torch.stack([sc[y == k].mean(0) for k in range(K)])
    r = sc - means[y]
    within = r.T @ r / len(sc)
    w = torch.linalg.solve(within + ridge * torch.diag(within.diagonal().clamp(min=1e-12)),
                           means.T).T
    return lambda s: s[:, cols] @ w.T - 0.5 * (w * means).sum(1)


def gauss(col, floor):
    m = torch.stack([S[y == k, col].mean() for k in range(K)])
    v = torch.stack([S[y == k, col].var() for k in range(K)]).clamp(min=floor ** 2)
    return lambda s: -0.5 * (s[:, col:col + 1] - m) ** 2 / v - 0.5 * v.log()


def plus(base, extra):
    return lambda s: base(s) + extra(s)


def rule(base):
    def logits(s):
        out = base(s).clone()
        out[:, JPEG] = -1e4
        return torch.where(s[:, 21:22] >= 0.5, torch.nn.functional.one_hot(
            torch.tensor(JPEG), K).double() * 2e4 - 1e4, out)
    return logits


base21 = lda(list(range(21)))
classifiers = {"lda22": lda(list(range(22))), "lda21": base21,
               "lda21+g": plus(base21, gauss(21, 0.03)), "lda21+g.1": plus(base21, gauss(21, 0.1)),
               "rule": rule(base21)}
feats = []
for s in sets:
    for idx, (lq, _gt, _col, _name) in enumerate(s):
        x = torch.from_numpy(np.ascontiguousarray(lq)).permute(2, 0, 1)[None].float()
        feats.append((s, idx, torch.cat([degradation_stats(x), jpeg_lattice(x)], 1).double()))
for v in [*variants, "oracle", "input"]:
    per, right = {}, 0
    for s, idx, st in feats:
        if v == "oracle":
            c = tasks.index(s.task)
        elif v == "input":
            c = len(tasks)
        else:
            c = int(classifiers[v](st).argmax(1)[0])
        right += c == tasks.index(s.task)
        per.setdefault(s.task, []).append(score(s, idx, c))
    psnr = {t: float(np.mean(per[t])) for t in tasks}
    print(f"{strategy} {which} {v:10s} right {right}/{len(feats)} "
          + " ".join(f"{t}:{psnr[t]:.2f}" for t in tasks)
          + f" avg {np.mean(list(psnr.values())):.2f}", flush=True)
