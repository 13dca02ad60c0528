"""The demo's whole-photograph table on the held-out photographs of issue 27.

The same protocol as the demo's whole-photograph table (the ``embedded`` setting's ``whole`` test
group, which each demo run's final evaluation measures):
each photograph degraded whole once per task (``default_rng([7, task_index, j])``, as
``aioir degrade --seed 7``), restored whole at full size as ``aioir restore`` restores it (EMA
weights, one pass, clipped to [0, 1]) by each strategy's last checkpoint, scored by the MiOIR
protocol (RGB, 4-px crop, uint8). Only the photographs differ: five from packages other than
scikit-image (:mod:`heldout_photos`), chosen before anything was measured on them::

    python benchmarks/heldout_demo.py D            # D: an `aioir demo --out D` folder

prints the table, the verdict against the degraded input, and writes
``D/default/heldout_results.json`` (``--budget quick`` for ``D/quick``).

``--routing oracle`` is a diagnosis, not a result: the classifier's choice is replaced by the true
task (what the network would score if it always routed right); ``--routes`` prints what the
classifier chose for each degraded photograph.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from heldout_photos import write_photos


def heldout_sets(folder: Path, tasks: list[str]) -> list[Any]:
    """The held-out photographs at full size, degraded whole once per task as the demo's
    whole photographs are (:func:`aioir.demo.whole_image_sets`)."""
    from aioir.data.sources import FolderSource
    from aioir.data.testsets import SyntheticTestSet
    from aioir.demo import WHOLE_SEED

    return [SyntheticTestSet(FolderSource(folder), t, seed=WHOLE_SEED, key="index",
                             task_index=i, max_size=None, multiple=1)
            for i, t in enumerate(tasks)]


def strategy_dir(root: Path, budget: str, strategy: str) -> Path:
    """The run folder of ``strategy`` in the demo folder ``root`` (``D/<budget>``): the bench's
    ``runs/steps_N/seed_S/STRATEGY``, or ``STRATEGY`` directly (a demo folder written before
    the demo became a bench preset, e.g. runs/demo_base)."""
    from aioir.bench.spec import cells
    from aioir.demo import demo_spec

    old = root / strategy
    if (old / "config.yaml").is_file():
        return old
    cell = next(c for c in cells(demo_spec(budget, (strategy,))) if c.strategy == strategy)
    return root / cell.run_dir


def last_checkpoint(run_dir: Path) -> Path:
    found = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    if not found:
        raise SystemExit(f"heldout_demo: no checkpoint in {run_dir / 'checkpoints'}")
    return found[-1]


def oracle_routing(model: Any, task_index: dict[str, int]) -> Any:
    """Make ``model`` (an ``aware_unet``) route every image to ``model.true_task``."""
    import torch

    def logits(x, xp, stats, detach=False):
        out = torch.full((x.shape[0], model.num_classes), -1e4)
        out[:, model.true_task] = 0.0
        return out

    model._class_logits = logits
    return model


def score_network(checkpoint: Path | None, sets: list[Any], protocol: Any,
                  routing: str = "classifier", routes: dict | None = None) -> dict[str, Any]:
    """:func:`aioir.engine.evaluation.summary` of one network (``None``: the degraded input)."""
    import torch

    from aioir.engine.evaluation import evaluate, summary
    from aioir.inference.reader import load_network
    from aioir.models.restore import restore_image

    if checkpoint is None:
        return summary(evaluate(lambda img: img, sets, protocol))
    model, meta = load_network(checkpoint, use_ema=True)
    tasks = meta.get("tasks") or [s.task for s in sets]
    if routing == "oracle":
        oracle_routing(model, {t: i for i, t in enumerate(tasks)})
    current: list[str] = []  # the task of the set being restored (for --routes)

    @contextlib.contextmanager
    def true_task(task: str) -> Iterator[None]:
        model.true_task = tasks.index(task)  # read by --routing oracle
        current[:] = [task]
        yield

    def restore(img):
        if routes is not None and hasattr(model, "degradation_probabilities"):
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
            p = model.degradation_probabilities(x)[0]
            names = list(tasks) + (["clean"] if p.numel() > len(tasks) else [])
            routes.setdefault(current[0], []).append(names[int(p.argmax())])
        return restore_image(model, img)

    return summary(evaluate(restore, sets, protocol, task_context=true_task))


def verdict(rows: dict[str, Any], names: list[str], tasks: list[str]) -> list[str]:
    """One line per strategy: its gain over the input (:func:`aioir.report.summary.beats_input`),
    its worst task, and whether that meets issue 27's target."""
    from aioir.report.summary import beats_input

    base = rows["degraded input"]
    gains = beats_input(rows, names, tasks)
    lines = []
    for s in names:
        diff = {t: rows[s]["per_task"][t]["psnr"] - base["per_task"][t]["psnr"] for t in tasks}
        better = gains[s]["n_tasks_beating_input"]
        gain = gains[s]["average_gain_over_input"]
        worst = min(diff, key=diff.get)
        ok = gain > 0 and better >= 6 and diff[worst] >= -0.3
        lines.append(f"- {s}: {gain:+.2f} dB over the input on average, above it on "
                     f"{better}/{len(tasks)} tasks, worst {worst} {diff[worst]:+.2f} dB "
                     f"({'meets' if ok else 'misses'} the issue-27 target)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", type=Path, help="an `aioir demo --out` folder")
    parser.add_argument("--budget", default="default", choices=("default", "quick"))
    parser.add_argument("--photos", type=Path, default=None,
                        help="folder of the held-out photos (default: written by "
                             "heldout_photos.py into DEMO/heldout-photos)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "aioir-heldout")
    parser.add_argument("--strategies", default="mixed,tur,art")
    parser.add_argument("--routing", default="classifier", choices=("classifier", "oracle"))
    parser.add_argument("--routes", action="store_true", help="print the classifier's choices")
    args = parser.parse_args(argv)

    import torch

    from aioir.config import from_dict
    from aioir.config.schema import MIOIR_TASKS, RunConfig
    from aioir.files import write_text
    from aioir.report.tables import results_table
    from aioir.settings.assemble import resolve_setting, val_protocol

    torch.set_num_threads(1)
    root = args.demo / args.budget
    names = args.strategies.split(",")
    photos = args.photos or args.demo / "heldout-photos"
    if args.photos is None:
        write_photos(photos, args.cache)
    import yaml

    dirs = {s: strategy_dir(root, args.budget, s) for s in names}
    cfg = from_dict(RunConfig, yaml.safe_load((dirs[names[0]] / "config.yaml").read_text()))
    tasks = cfg.data.tasks or list(MIOIR_TASKS)
    protocol = val_protocol(cfg, resolve_setting(cfg))
    sets = heldout_sets(photos, tasks)
    rows = {"degraded input": score_network(None, sets, protocol)}
    routes: dict[str, dict[str, list[str]]] = {}
    for s in names:
        routes[s] = {} if args.routes else None
        rows[s] = score_network(last_checkpoint(dirs[s]), sets, protocol, args.routing,
                                routes[s])
    table = results_table(rows, tasks, baseline="mixed" if "mixed" in names else None)
    print(table)
    print()
    print("\n".join(verdict(rows, names, tasks)))
    if args.routing == "oracle":
        print("(--routing oracle: the true task forced, a diagnosis; the network cannot do this)")
    if args.routes:
        for s in names:
            print(f"{s} routes:", json.dumps(routes[s]))
    if args.routing == "classifier" and args.photos is None:
        write_text(root / "heldout_results.json",
                   json.dumps({"rows": rows, "photos": sorted(p.name for p in photos.iterdir()),
                               "routes": routes}, indent=1), what="held-out results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
