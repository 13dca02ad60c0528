"""Issue 27: the demo's networks on small tiles, each degraded on its own.

    python benchmarks/heldout_diagnosis/tiles.py RUNS [TILE]

RUNS: the folder holding a demo's strategy runs (``D/default/runs/steps_00000420/seed_0``, or
``runs/demo_base/default`` for a demo written before the bench layout); TILE: the side (default
128). The embedded setting's test photographs (chelsea, coffee, rocket) are cut into ``TILE``-px
tiles and each tile is degraded alone for each task (``build_test_sets(..., tile=TILE)``: 231
images at 128 px), then restored by each strategy's last checkpoint (EMA weights, clipped) and
scored by the run's protocol. Small tiles carry less evidence for the classifier than a photograph
(a tile of sky), so this is where routing mistakes show first. Prints the input's PSNR per task
and each strategy's, with its difference to the input; then, for mixed, how many tiles of each
task the classifier routes to that task's head, and the PSNR with the true task's head forced
(the oracle: what right routing would give).
"""

import contextlib
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from aioir.config import from_dict
from aioir.config.schema import MIOIR_TASKS, RunConfig
from aioir.engine.evaluation import evaluate, summary
from aioir.inference.reader import load_network
from aioir.models.restore import restore_image
from aioir.settings.assemble import build_test_sets, resolve_setting, val_protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from heldout_demo import oracle_routing  # benchmarks/, found through the sys.path line above

runs = Path(sys.argv[1])
tile = int(sys.argv[2]) if len(sys.argv) > 2 else 128
torch.set_num_threads(2)
tasks = list(MIOIR_TASKS)
rows: dict[str, dict[str, float]] = {}
for name in ["input", "mixed", "tur", "art", "mixed (oracle)"]:
    run = runs / ("mixed" if name in ("input", "mixed (oracle)") else name)
    cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
    setting = resolve_setting(cfg)
    sets, _ = build_test_sets(setting, cfg.data.root, groups=["main"], max_size=None, tile=tile)
    model, _ = load_network(sorted((run / "checkpoints").glob("step_*.pt"))[-1], use_ema=True)
    if name == "mixed":
        right = {}
        for s in sets:
            hits = 0
            for lq, _gt, _column, _name in s:
                x = torch.from_numpy(np.ascontiguousarray(lq)).permute(2, 0, 1)[None].float()
                hits += int(model.degradation_probabilities(x)[0].argmax()) == tasks.index(s.task)
            right[s.task] = f"{hits}/{len(s)}"
        print("mixed routes right: " + " ".join(f"{t} {right[t]}" for t in tasks), flush=True)
    if name == "mixed (oracle)":
        oracle_routing(model, {t: i for i, t in enumerate(tasks)})

    def restore(img: np.ndarray, model=model, identity=name == "input") -> np.ndarray:
        return img if identity else restore_image(model, img)  # as `aioir restore` does

    def true_task(task: str, model=model):
        model.true_task = tasks.index(task)  # read by the oracle's routing
        return contextlib.nullcontext()

    result = summary(evaluate(restore, sets, val_protocol(cfg, setting), task_context=true_task))
    rows[name] = {t: result["per_task"][t]["psnr"] for t in tasks}
    gains = "" if name == "input" else " vs input: " + " ".join(
        f"{t} {rows[name][t] - rows['input'][t]:+.2f}" for t in tasks)
    print(f"{name} ({sum(len(s) for s in sets)} tiles of {tile} px): "
          + " ".join(f"{t} {rows[name][t]:.2f}" for t in tasks)
          + f" avg {np.mean(list(rows[name].values())):.2f}" + gains, flush=True)
