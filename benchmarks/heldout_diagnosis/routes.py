"""Issue 27 diagnosis: routing variants of a trained demo network, scored by lookup.

    python benchmarks/heldout_diagnosis/routes.py D/default/mixed CACHE.json heldout|whole VARIANTS

Each image's PSNR under each forced route (7 heads + clean = identity) is computed once (cached in
CACHE.json); a variant only decides the routes. The demo trains its heads with the true task's
gate, so the heads never see the classifier and a routing change equals training with it.
VARIANTS (comma-separated): ``whole`` (today's: statistics of the whole image), ``tN`` (mean
statistics of N-px tiles, ``cls_tile``), ``rX:whole`` / ``rX:tN`` (the LDA re-solved with ridge X
from the checkpoint's sufficient statistics), ``f=FILE@whole`` (an LDA saved by
``refit_lda.py``), ``risk=FILE`` / ``riskTX=FILE`` (``routing="min_risk"`` with the cost matrix
and temperature fitted on training images by ``route_cost.py``; ``riskTX``: temperature X). Each
(but the risk variants) is printed with confidence thresholds 0 / 0.5 / 0.6 (``min_confidence``),
then the oracle (true task) and the input (identity). ``heldout``: the held-out photographs in
runs/demo_base/heldout-photos (``benchmarks/heldout_photos.py``); ``whole``: the embedded test
photographs whole.
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
from aioir.models.degradation_stats import degradation_stats, tiled_stats
from aioir.settings.assemble import resolve_setting, val_protocol

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
torch.set_num_threads(1)
from forced import ForcedRoutes  # noqa: E402 - this folder, the script's
from heldout_demo import heldout_sets  # noqa: E402 - found through the sys.path line above

run, cache_path, which = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
variants = sys.argv[4].split(",")
tasks = list(MIOIR_TASKS)
names = tasks + ["clean"]
cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
protocol = val_protocol(cfg, resolve_setting(cfg))
model, _ = load_network(sorted((run / "checkpoints").glob("step_*.pt"))[-1], use_ema=True)
W, b = model.lda_weight, model.lda_bias
forced_routes = ForcedRoutes(model, protocol, len(tasks), cache_path)
ss = (
    heldout_sets(ROOT / "runs/demo_base/heldout-photos", tasks)
    if which == "heldout"
    else whole_image_sets(cfg, None)
)


def score(s, idx, route):
    return forced_routes.score(s, idx, route)


def solve(ridge):
    n_k, sums, scatter = model.lda_count, model.lda_sum, model.lda_scatter
    n = n_k.sum()
    means = sums / n_k.clamp(min=1)[:, None]
    within = (scatter - (n_k[:, None, None] * means[:, :, None] * means[:, None, :]).sum(0)) / n
    reg = within + ridge * torch.diag(within.diagonal().clamp(min=1e-12))
    w = torch.linalg.solve(reg, means.T).T
    return w.float(), (-0.5 * (w * means).sum(1)).float()


def lp(v, x):
    ridge = None
    if v.startswith("risk"):  # min-risk route, returned one-hot
        d = torch.load(v.split("=", 1)[1])
        head = v.split("=", 1)[0]
        temp = float(head[5:]) if head.startswith("riskT") else d["temperature"]
        logit = degradation_stats(x) @ W.T + b
        r = int(((logit / temp).softmax(1) @ d["cost"]).argmin(1)[0])
        return torch.nn.functional.one_hot(torch.tensor(r), model.num_classes).float()
    if v.startswith("f="):
        path, v = v[2:].split("@")
        d = torch.load(path)
        s_ = degradation_stats(x) if v == "whole" else tiled_stats(x, int(v[1:]))
        return (s_ @ d["w"].T + d["b"]).softmax(1)[0]
    if ":" in v:
        r, v = v.split(":")
        ridge = float(r[1:])
    WW, bb = (W, b) if ridge is None else solve(ridge)
    if v == "whole":
        s_ = degradation_stats(x)
    elif v.startswith("t"):
        s_ = tiled_stats(x, int(v[1:]))
    return (s_ @ WW.T + bb).softmax(1)[0]


probs = {v: {} for v in variants}
for s in ss:
    for idx, (lq, _gt, _col, nm) in enumerate(s):
        x = torch.from_numpy(np.ascontiguousarray(lq)).permute(2, 0, 1)[None].float()
        for v in variants:
            probs[v][(s.task, idx, nm)] = lp(v, x).tolist()
for v in variants + ["oracle", "input"]:
    for thr in (
        (0.0, 0.5, 0.6) if v not in ("oracle", "input") and not v.startswith("risk") else (0.0,)
    ):
        per, acc = {}, 0
        for s in ss:
            for (t, idx, nm), _p in probs[variants[0]].items():
                if t != s.task:
                    continue
                if v == "oracle":
                    c = tasks.index(t)
                elif v == "input":
                    c = len(tasks)
                else:
                    pp = np.array(probs[v][(t, idx, nm)])
                    c = int(pp.argmax())
                    if pp[c] < thr:
                        c = len(tasks)
                acc += c == tasks.index(t)
                per.setdefault(t, []).append(score(s, idx, c))
        pt = {t: float(np.mean(per[t])) for t in tasks}
        print(
            f"{which} {v:8s} thr={thr} acc={acc:2d} "
            + " ".join(f"{t}:{pt[t]:.2f}" for t in tasks)
            + f" avg {np.mean(list(pt.values())):.2f}",
            flush=True,
        )
