"""Issue 27 diagnosis: which part of a head harms a photograph it was not made for.

    python benchmarks/heldout_diagnosis/head_parts.py RUN PHOTOS TASK [ROUTE]

RUN: a demo run folder (``runs/demo_base/default/mixed``, or a bench cell's under
``D/default/runs``); PHOTOS: the held-out photographs (``D/heldout-photos``, written by
``heldout_demo.py D``); TASK: they are degraded by TASK as ``heldout_demo.py`` degrades them;
ROUTE: the head forced on them (default: TASK's own). An ``aware_unet`` head is
``tone(f * x) + r`` (tone curve, linear filter ``f``, residual ``r``); for each photograph the
script prints the PSNR (the MiOIR protocol: RGB, 4-px crop, uint8) of the input and of
``full``, ``filter`` (``f * x`` alone), ``tone`` (``tone(x)``), ``residual`` (``x + r``) and
``tone+filter``, then the head's filter's gain at a few spatial frequencies (cycles per pixel,
horizontal ``h``, diagonal ``d``): a gain far from 1 changes every photograph it is applied to.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aioir.config.schema import MIOIR_TASKS
from aioir.inference.reader import load_network
from aioir.models.aware_unet import mean_std, tone_curve
from aioir.models.padding import crop_to, pad_to_multiple

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from heldout_demo import heldout_sets  # noqa: E402 - found through the sys.path line above

run, folder, task = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
tasks = list(MIOIR_TASKS)
route = tasks.index(sys.argv[4] if len(sys.argv) > 4 else task)
model, _ = load_network(sorted((run / "checkpoints").glob("step_*.pt"))[-1], use_ema=True)
degraded = next(s for s in heldout_sets(folder, tasks) if s.task == task)


def psnr(out: np.ndarray, gt: np.ndarray) -> float:
    """The MiOIR protocol: RGB, 4-px border crop, values rounded to uint8."""
    a = np.round(np.clip(out, 0, 1)[4:-4, 4:-4] * 255)
    b = np.round(gt[4:-4, 4:-4] * 255)
    return float(10 * np.log10(255.0 ** 2 / ((a - b) ** 2).mean()))


gate = F.one_hot(torch.tensor([route]), model.num_classes).float()
for lq, gt, _column, name in degraded:
    x = torch.from_numpy(np.ascontiguousarray(lq)).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        xp, (h, w) = pad_to_multiple(x, 4)
        f1, f2, f3, _ = model._trunk(xp)
        d2 = model._modulate(model.dec2(model.up2(f3) + f2), gate, 0)
        d1 = model._modulate(model.dec1(model.up1(d2) + f1), gate, 1)
        tone = model._mixed(model.tone(mean_std(f3)), gate, 9).view(-1, 3, 3)
        fx = model._filtered(xp, gate)
        res = model._mixed(model.tail(model.tap(d1)), gate, 3)
        parts = {"full": tone_curve(fx, tone) + res, "filter": fx, "tone": tone_curve(xp, tone),
                 "residual": xp + res, "tone+filter": tone_curve(fx, tone)}
    scores = {k: psnr(crop_to(v, h, w)[0].permute(1, 2, 0).numpy(), gt) for k, v in parts.items()}
    print(f"{task} photo {name} -> {tasks[route]} head: input {psnr(lq, gt):.2f} "
          + " ".join(f"{k} {v:.2f}" for k, v in scores.items()), flush=True)
if model.filters is not None:
    k = model.filter_size
    spectrum = np.abs(np.fft.fft2(model._filter_bank()[route].view(k, k).numpy(), (64, 64)))
    print(f"{tasks[route]} filter gain: h1/8 {spectrum[0, 8]:.3f} h1/4 {spectrum[0, 16]:.3f} "
          f"h1/2 {spectrum[0, 32]:.3f} d1/2 {spectrum[32, 32]:.3f}")
