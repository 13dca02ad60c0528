"""Issue 27 diagnosis: the demo's 192-px test crops (the embedded test photographs, the demo's
crop table) restored by today's demo networks under another test-time routing::

    python benchmarks/heldout_diagnosis/crops.py mixed,tur 0,64,96 [LDA.pt | risk=COST.pt]

``cls_tile`` 0 (today's, reproduces the committed crop table) or N px tiles; with ``LDA.pt``
(``refit_lda.py``) the classifier's discriminants are replaced by that refit; with
``risk=COST.pt`` (``STRAT`` in the path: each strategy's own fit) the network routes by
``routing="min_risk"`` with the cost matrix and temperature that ``route_cost.py`` fitted on
training images (``riskTX=COST.pt``: temperature X).
"""

import sys
from pathlib import Path

import numpy as np
import torch
import yaml

torch.set_num_threads(1)
from aioir.config import from_dict  # noqa: E402
from aioir.config.schema import MIOIR_TASKS, RunConfig  # noqa: E402
from aioir.engine.evaluation import evaluate, summary  # noqa: E402
from aioir.inference.reader import load_network  # noqa: E402
from aioir.settings.assemble import build_test_sets, resolve_setting, val_protocol  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
tasks = list(MIOIR_TASKS)
for strat in sys.argv[1].split(","):
    run = ROOT / "runs/demo_base/default" / strat
    cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
    setting = resolve_setting(cfg)
    protocol = val_protocol(cfg, setting)
    sets, _ = build_test_sets(setting, cfg.data.root, max_size=cfg.val.max_size)
    model, _ = load_network(sorted((run / "checkpoints").glob("step_*.pt"))[-1], use_ema=True)
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    if arg.startswith("risk"):
        d = torch.load(arg.split("=", 1)[1].replace("STRAT", strat))
        model.routing = "min_risk"
        model.min_confidence = 0.0
        head = arg.split("=", 1)[0]
        model.route_temperature = float(head[5:]) if head.startswith("riskT") else d["temperature"]
        model.register_buffer("route_cost", d["cost"])
    elif arg:
        lda = torch.load(sys.argv[3])
        model.lda_weight.copy_(lda["w"])
        model.lda_bias.copy_(lda["b"])

    def restore(img, model=model):
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
        with torch.no_grad():
            return model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()

    for tile in [int(t) for t in sys.argv[2].split(",")]:
        model.cls_tile = tile
        r = summary(evaluate(restore, sets, protocol))
        pt = {t: r["per_task"][t]["psnr"] for t in tasks}
        print(
            strat,
            "crops cls_tile",
            tile,
            " ".join(f"{t}:{pt[t]:.2f}" for t in tasks),
            f"avg {np.mean(list(pt.values())):.2f}",
            flush=True,
        )
