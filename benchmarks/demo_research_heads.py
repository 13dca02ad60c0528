"""Demo recipe research (issue 11 item 5): degradation-aware heads and the other recipe levers.

Every candidate is a named variant of the demo's run config (:func:`aioir.demo.demo_config`),
trained through :func:`aioir.engine.run.train` on the demo's data stream (``data.cache`` shared
by every run with the same seed, steps, batch and patch), then its EMA network - loaded as
``aioir restore`` loads it (:func:`aioir.inference.reader.load_network`) - is evaluated under
protocol ``mioir`` on three held-out sets of the three held-out photographs (chelsea, coffee,
rocket), each with a degraded-input row:

* ``crops``: the demo's own test set (``validation_sets`` of the demo config: 3 photos x 7
  tasks, 192 px centre crops, seed 1234);
* ``tiles``: every non-overlapping 128 px tile of the 3 photos (6 + 12 + 15 = 33) x 7 tasks,
  each tile degraded alone at a generator fixed by (seed 99, task, photo, tile): 231 pairs, for
  paired differences with tight intervals;
* ``whole``: the 3 photos at full size, degraded whole per task (seed 7) and restored whole,
  as ``aioir degrade`` + ``aioir restore`` do.

Commands (one run per call; results in ``OUT/<variant>-<strategy>-s<seed>-n<steps>/eval.json``)::

    python benchmarks/demo_research_heads.py train --variant demo --steps 450 --out /tmp/dr
    python benchmarks/demo_research_heads.py table --out /tmp/dr --baseline demo
    python benchmarks/demo_research_heads.py time --variants demo aware_both --steps 20

``table`` prints per set the gain over the degraded input per task with the classifier's
accuracy per task (degradation-aware variants), and each run's paired difference to the
baseline on the tiles with a 95 % interval (t quantile over the 231 per-image differences).
``time`` measures the training step of several variants interleaved in one process (one
thread, same batches), so machine load hits all alike: median wall ms/step and core-seconds
(process CPU time) per step.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

TASKS = ("sr", "blur", "noise", "jpeg", "rain", "haze", "dark")
TILE = 128
TILE_SEED = 99
WHOLE_SEED = 7


# ---------------------------------------------------------------------------- variants
def _aware(**options: Any) -> Callable:
    def apply(cfg):
        cfg.model.name = "aware_unet"
        base = {"width": cfg.model.options.get("width", 24), "num_tasks": len(TASKS)}
        base.update(options)
        cfg.model.options = base
    return apply


def _opts(**options: Any) -> Callable:
    def apply(cfg):
        cfg.model.options = {**cfg.model.options, **options}
    return apply


def _set(path: str, value: Any) -> Callable:
    def apply(cfg):
        obj = cfg
        *head, last = path.split(".")
        for part in head:
            obj = getattr(obj, part)
        if isinstance(obj, dict):
            obj[last] = value
        else:
            setattr(obj, last, value)
    return apply


def _chain(*fns: Callable) -> Callable:
    def apply(cfg):
        for fn in fns:
            fn(cfg)
    return apply


#: name -> config edit applied to the demo's config (default budget); documented in
#: docs/benchmarks.md ("Demo recipe research: degradation-aware heads")
VARIANTS: dict[str, Callable] = {
    "demo": lambda cfg: None,                                     # today's demo recipe
    "aware_none": _aware(heads="none"),                           # classifier as aux task only
    "aware_tone": _aware(heads="tone"),
    "aware_tail": _aware(heads="tail"),
    "aware_both": _aware(heads="both"),
    "aware_both_pred": _aware(heads="both", train_gate="pred"),
    "aware_both_mix": _aware(heads="both", train_gate="mix"),
    "aware_both_hard": _aware(heads="both", gate="hard"),
    "aware_both_film": _aware(heads="both", film=True),
    "aware_film": _aware(heads="none", film=True),
    "aware_both_detach": _aware(heads="both", cls_detach=True),
    "aware_both_cls1": _aware(heads="both", cls_weight=1.0),
    "aware_both_cls001": _aware(heads="both", cls_weight=0.01),
    "aware_both_filter": _aware(heads="both", filter_size=7),
    "aware_both_clean": _aware(heads="both", clean=0.25),
    "aware_both_clean_pred": _aware(heads="both", clean=0.25, train_gate="pred"),
    "aware_both_clean_mix": _aware(heads="both", clean=0.25, train_gate="mix"),
    "aware_both_clean_cls1": _aware(heads="both", clean=0.25, cls_weight=1.0),
    "aware_both_clean_pred_cls1": _aware(heads="both", clean=0.25, train_gate="pred",
                                         cls_weight=1.0),
    # + closed-form per-task filters and a classifier of its own
    "aware_f": _aware(heads="both", clean=0.25, filter_size=7, filter_fit="lstsq",
                      classifier="input"),
    "aware_f_pred": _aware(heads="both", clean=0.25, filter_size=7, filter_fit="lstsq",
                           classifier="input", train_gate="pred"),
    "aware_f_trunk": _aware(heads="both", clean=0.25, filter_size=7, filter_fit="lstsq"),
    # + a linear classifier on fixed size-invariant statistics
    "aware_s": _aware(heads="both", clean=0.25, filter_size=7, filter_fit="lstsq",
                      classifier="stats"),
    "aware_s_hard": _aware(heads="both", clean=0.25, filter_size=7, filter_fit="lstsq",
                           classifier="stats", gate="hard"),
    # + period-4 curvature means (x4 upscaling vs blur) and the hard gate
    "aware_s2": _aware(heads="both", clean=0.25, filter_size=7, filter_fit="lstsq",
                       classifier="stats", gate="hard"),
    # + the statistics without saturation (a content cue on the grey training photos)
    "aware_s3": _aware(heads="both", clean=0.25, filter_size=7, filter_fit="lstsq",
                       classifier="stats", gate="hard"),
    "aware_f_noclean": _aware(heads="both", filter_size=7, filter_fit="lstsq",
                              classifier="input"),
}

#: modifiers appended to a variant name with "+", e.g. ``aware_both+lr5e-4+w32+charb``
MODIFIERS: dict[str, Callable[[str], Callable]] = {
    "lr": lambda v: _set("optim.lr", float(v)),
    "ema": lambda v: _set("train.ema_decay", float(v)),
    "w": lambda v: _opts(width=int(v)),
    "b": lambda v: _opts(blocks=int(v)),
    "p": lambda v: _set("data.patch_size", int(v)),
    "bs": lambda v: _set("data.batch_size", int(v)),
    "clip": lambda v: _set("train.grad_clip", float(v) if float(v) > 0 else None),
    "cls": lambda v: _opts(cls_weight=float(v)),
    "clean": lambda v: _opts(clean=float(v)),
    "charb": lambda v: _set("strategy.options.loss", "charbonnier"),
    "l2": lambda v: _set("strategy.options.loss", "l2"),
    "const": lambda v: _set("schedule.name", "constant"),
}


def edit_for(variant: str) -> Callable:
    """The config edit of ``variant``: a base name from :data:`VARIANTS` and ``+modifiers``."""
    base, *mods = variant.split("+")
    if base not in VARIANTS:
        raise SystemExit(f"unknown variant {base!r}; known: {', '.join(VARIANTS)}")
    fns = [VARIANTS[base]]
    for m in mods:
        key = next((k for k in sorted(MODIFIERS, key=len, reverse=True) if m.startswith(k)), None)
        if key is None:
            raise SystemExit(f"unknown modifier {m!r} in {variant!r}; "
                             f"known: {', '.join(MODIFIERS)}")
        fns.append(MODIFIERS[key](m[len(key):]))
    return _chain(*fns)


def variant_config(variant: str, strategy: str, seed: int, steps: int, cache_root: Path,
                   quick: bool = False):
    """The demo config of ``strategy`` edited by ``variant``, with its shared data cache."""
    from aioir import demo

    budget = demo.BUDGETS["quick" if quick else "default"]
    budget = replace(budget, steps=steps)
    cfg = demo.demo_config(strategy, budget, seed, None)
    edit_for(variant)(cfg)
    cfg.train.steps = steps
    cfg.schedule.warmup_steps = max(steps // 20, 1)
    cfg.train.checkpoint_every = steps
    d = cfg.data
    cfg.data.cache = str(cache_root / f"s{seed}-n{steps}-b{d.batch_size}-p{d.patch_size}")
    cfg.name = f"{variant}-{strategy}"
    return cfg


# ---------------------------------------------------------------------------- test sets
class TileSet:
    """Every non-overlapping ``TILE`` px tile of the held-out photos, degraded alone."""

    def __init__(self, task: str, task_index: int) -> None:
        from aioir.data.sources import EmbeddedPhotos

        self.column = self.task = task
        self.group = "main"
        self.task_index = task_index
        self.source = EmbeddedPhotos("test")

    def __iter__(self):
        from aioir.data.synthetic import run_degrade
        from aioir.degradations import apply as degrade

        for j, name in enumerate(self.source.names):
            img = self.source[j]
            rows, cols = img.shape[0] // TILE, img.shape[1] // TILE
            for r in range(rows):
                for c in range(cols):
                    gt = np.ascontiguousarray(img[r * TILE:(r + 1) * TILE,
                                                  c * TILE:(c + 1) * TILE], dtype=np.float32)
                    rng = np.random.default_rng([TILE_SEED, self.task_index, j, r, c])
                    lq = run_degrade(degrade, self.task, gt, rng, "in", True)
                    yield lq, gt, self.column, f"{name}/{r}_{c}"


_SETS: dict[str, list] = {}


def test_sets(cfg) -> dict[str, list]:
    """The three held-out sets as lists of ``(lq, gt, task, name)`` (degraded once per
    process; the demo config fixes only the crops' size and seed)."""
    if not _SETS:
        from aioir.data.sources import EmbeddedPhotos
        from aioir.data.testsets import SyntheticTestSet
        from aioir.settings.assemble import validation_sets

        crops, _ = validation_sets(cfg)
        whole = [SyntheticTestSet(EmbeddedPhotos("test"), t, seed=WHOLE_SEED, key="index",
                                  task_index=i, max_size=None, multiple=1)
                 for i, t in enumerate(TASKS)]
        tiles = [TileSet(t, i) for i, t in enumerate(TASKS)]
        for name, sets in (("crops", crops), ("tiles", tiles), ("whole", whole)):
            _SETS[name] = [list(ts) for ts in sets]
    return _SETS


class _ListSet(list):
    group = "main"

    def __init__(self, items: list) -> None:
        super().__init__(items)
        self.column = items[0][2]


def evaluate_network(model, cfg, device: str = "cpu") -> dict[str, Any]:
    """Per set: per-image records (with the input's scores) and, for models with a
    classifier, its accuracy per task. The network runs as ``aioir restore`` runs it (whole
    image, EMA weights, output clamped to [0, 1])."""
    import torch

    from aioir.engine.evaluation import evaluate
    from aioir.models.restore import restore_image

    model = model.to(device).eval()
    out: dict[str, Any] = {}
    has_cls = hasattr(model, "logits")
    for name, sets in test_sets(cfg).items():
        wrapped = [_ListSet(items) for items in sets]
        res = evaluate(lambda img: restore_image(model, img), wrapped, "mioir",
                       measure_input=True)
        d = res["main"].to_dict()
        entry: dict[str, Any] = {"records": d["records"]}
        if has_cls:
            hits: dict[str, list[int]] = {t: [] for t in TASKS}
            probs: dict[str, list[float]] = {t: [] for t in TASKS}
            confusion = np.zeros((len(TASKS), model.num_classes), dtype=int)
            for i, items in enumerate(sets):
                for lq, _gt, column, _n in items:
                    with torch.no_grad():
                        x = torch.from_numpy(np.ascontiguousarray(lq)).permute(2, 0, 1)[None]
                        p = model.logits(x.to(device)).softmax(1)[0].cpu()
                    hits[column].append(int(p.argmax()) == i)
                    probs[column].append(float(p[i]))
                    confusion[i, int(p.argmax())] += 1
            entry["accuracy"] = {t: float(np.mean(v)) for t, v in hits.items() if v}
            entry["true_prob"] = {t: float(np.mean(v)) for t, v in probs.items() if v}
            entry["confusion"] = confusion.tolist()  # rows: true task, columns: predicted
        out[name] = entry
    return out


def run_name(variant: str, strategy: str, seed: int, steps: int) -> str:
    return f"{variant}-{strategy}-s{seed}-n{steps}".replace("+", "_")


def run_one(variant: str, strategy: str, seed: int, steps: int, out: Path, *,
            quick: bool = False, device: str = "cpu", cache_workers: int = 1) -> dict[str, Any]:
    """Train one run (resumes; a finished run is read back) and evaluate it."""
    import torch

    from aioir.engine.run import train
    from aioir.inference.reader import load_network

    folder = out / run_name(variant, strategy, seed, steps)
    result_file = folder / "eval.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    cfg = variant_config(variant, strategy, seed, steps, out / "cache", quick)
    cfg.data.cache_workers = cache_workers
    cfg.train.device = device
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    res = train(cfg, folder / "run", resume="auto")
    train_s = time.perf_counter() - t0
    model, _ = load_network(res.checkpoint, use_ema=True)
    t1 = time.perf_counter()
    ev = evaluate_network(model, cfg, device)
    payload = {"variant": variant, "strategy": strategy, "seed": seed, "steps": steps,
               "quick": quick, "device": device, "model": cfg.model.name,
               "options": cfg.model.options, "lr": cfg.optim.lr, "train_seconds": train_s,
               "eval_seconds": time.perf_counter() - t1,
               "params": sum(p.numel() for p in model.parameters()), "sets": ev}
    tmp = result_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(result_file)
    return payload


def cmd_train(a: argparse.Namespace) -> None:
    payload = run_one(a.variant, a.strategy, a.seed, a.steps, Path(a.out), quick=a.quick,
                      device=a.device, cache_workers=a.cache_workers)
    print(summary_line(payload))


def gains(records: list[dict]) -> dict[str, float]:
    by: dict[str, list[float]] = {t: [] for t in TASKS}
    for r in records:
        by[r["task"]].append(r["psnr"] - r["input_psnr"])
    g = {t: float(np.mean(v)) for t, v in by.items() if v}
    g["avg"] = float(np.mean([g[t] for t in TASKS if t in g]))
    return g


def summary_line(p: dict) -> str:
    parts = [f"{p['variant']} {p['strategy']} s{p['seed']} n{p['steps']}"]
    for name, entry in p["sets"].items():
        g = gains(entry["records"])
        parts.append(f"{name}: " + " ".join(f"{g[t]:+.2f}" for t in (*TASKS, "avg")))
    return " | ".join(parts)


def t95(n: int) -> float:
    """Two-sided 95 % t quantile with ``n - 1`` degrees of freedom (normal beyond 120)."""
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
             9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042, 40: 2.021, 60: 2.000,
             120: 1.980}
    df = n - 1
    if df >= 120:
        return 1.96
    keys = sorted(table)
    for k in keys:
        if df <= k:
            return table[k]
    return 1.96


def paired(a: list[dict], b: list[dict]) -> dict[str, tuple[float, float]]:
    """Mean paired PSNR difference a - b and its 95 % half-width, per task and over all."""
    kb = {(r["task"], r["name"]): r["psnr"] for r in b}
    by: dict[str, list[float]] = {t: [] for t in TASKS}
    for r in a:
        by[r["task"]].append(r["psnr"] - kb[(r["task"], r["name"])])
    out = {}
    for t, v in list(by.items()) + [("all", [x for vs in by.values() for x in vs])]:
        if len(v) > 1:
            out[t] = (float(np.mean(v)), t95(len(v)) * float(np.std(v, ddof=1)) / math.sqrt(len(v)))
    return out


def load_results(out: Path) -> list[dict]:
    """Every run's results under ``out``: ``*/eval.json`` and the lines of ``*.jsonl``
    (sweeps), one entry per (variant, strategy, seed, steps, quick), errors left out."""
    found: dict[tuple, dict] = {}
    rows = [json.loads(f.read_text()) for f in sorted(out.glob("*/eval.json"))]
    for f in sorted(out.glob("*.jsonl")):
        rows += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    for r in rows:
        if "error" not in r:
            found[(r["variant"], r["strategy"], r["seed"], r["steps"], r.get("quick", False))] = r
    return list(found.values())


def cmd_table(a: argparse.Namespace) -> None:
    results = load_results(Path(a.out))
    if a.only:
        results = [r for r in results if r["variant"] in a.only]
    for set_name in ("crops", "tiles", "whole"):
        print(f"\n### {set_name}: PSNR gain over the degraded input (dB)\n")
        print("| run | " + " | ".join(TASKS) + " | avg | tasks > input |")
        print("|---|" + "---:|" * (len(TASKS) + 2))
        for r in results:
            g = gains(r["sets"][set_name]["records"])
            n_pos = sum(g[t] > 0 for t in TASKS)
            print(f"| {r['variant']} {r['strategy']} s{r['seed']} n{r['steps']} | "
                  + " | ".join(f"{g[t]:+.2f}" for t in TASKS) + f" | {g['avg']:+.2f} | {n_pos}/7 |")
    acc = [r for r in results if "accuracy" in r["sets"]["tiles"]]
    if acc:
        print("\n### classifier accuracy per task (tiles / crops / whole)\n")
        print("| run | " + " | ".join(TASKS) + " |")
        print("|---|" + "---|" * len(TASKS))
        for r in acc:
            cells = ["/".join(f"{r['sets'][s]['accuracy'][t]:.2f}" for s in ("tiles", "crops",
                                                                             "whole"))
                     for t in TASKS]
            print(f"| {r['variant']} {r['strategy']} s{r['seed']} | " + " | ".join(cells) + " |")
    if a.baseline:
        base = {(r["strategy"], r["seed"], r["steps"]): r for r in results
                if r["variant"] == a.baseline}
        print(f"\n### tiles: paired difference to `{a.baseline}` (same strategy, seed, steps), "
              "mean +/- 95 % half-width (dB)\n")
        print("| run | " + " | ".join(TASKS) + " | all |")
        print("|---|" + "---|" * (len(TASKS) + 1))
        for r in results:
            b = base.get((r["strategy"], r["seed"], r["steps"]))
            if b is None or r is b:
                continue
            d = paired(r["sets"]["tiles"]["records"], b["sets"]["tiles"]["records"])
            print(f"| {r['variant']} {r['strategy']} s{r['seed']} n{r['steps']} | "
                  + " | ".join(f"{d[t][0]:+.2f} +/- {d[t][1]:.2f}" for t in (*TASKS, "all"))
                  + " |")
    print("\ntrain seconds (under load): " + ", ".join(
        f"{r['variant']}-{r['strategy']}-s{r['seed']}: {r['train_seconds']:.0f}" for r in results))


def cmd_cache(a: argparse.Namespace) -> None:
    """Synthesise the shared training stream of ``--seeds`` (before parallel runs use it)."""
    from aioir.settings.assemble import resolve_setting, train_dataset

    for seed in a.seeds:
        cfg = variant_config("demo", "mixed", seed, a.steps, Path(a.out) / "cache", a.quick)
        cfg.data.cache_workers = a.cache_workers
        t0 = time.perf_counter()
        train_dataset(cfg, resolve_setting(cfg))
        print(f"seed {seed}: {cfg.data.cache} in {time.perf_counter() - t0:.1f} s")


def cmd_time(a: argparse.Namespace) -> None:
    """Median ms/step of each variant, interleaved step by step on the same batches."""
    import torch

    from aioir.engine.build import build_run
    from aioir.engine.trainer import Trainer

    torch.set_num_threads(1)
    out = Path(a.out)
    trainers, loaders = {}, {}
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="dr-time-"))
    for v in a.variants:
        cfg = variant_config(v, "mixed", 0, a.steps, out / "cache", a.quick)
        cfg.val.enabled = False
        cfg.train.checkpoint_every = 10 ** 9
        parts = build_run(cfg)
        trainers[v] = Trainer(parts, tmp / v)
        loaders[v] = iter(trainers[v]._loader())
    times: dict[str, list[float]] = {v: [] for v in a.variants}
    cpu: dict[str, list[float]] = {v: [] for v in a.variants}
    for step in range(a.steps):
        for v in a.variants:
            tr = trainers[v]
            batch = tr._to_device(next(loaders[v]))
            stage = tr.stages[0]
            t0, c0 = time.perf_counter(), time.process_time()
            tr._train_step(batch, stage)
            if step >= 2:
                times[v].append(time.perf_counter() - t0)
                cpu[v].append(time.process_time() - c0)
    ref = statistics.median(times[a.variants[0]])
    for v in a.variants:
        med = statistics.median(times[v])
        print(f"{v}: {1000 * med:.0f} ms/step (x{med / ref:.2f} of {a.variants[0]}), "
              f"{statistics.median(cpu[v]):.3f} core-s/step (process CPU time, one thread)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--variant", required=True)
    t.add_argument("--strategy", default="mixed")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=450)
    t.add_argument("--quick", action="store_true", help="start from the --quick budget")
    t.add_argument("--cache-workers", type=int, default=1)
    t.add_argument("--device", default="cpu")
    t.add_argument("--out", required=True)
    tb = sub.add_parser("table")
    tb.add_argument("--out", required=True)
    tb.add_argument("--baseline", default=None)
    tb.add_argument("--only", nargs="*", default=None)
    c = sub.add_parser("cache")
    c.add_argument("--seeds", type=int, nargs="+", default=[0])
    c.add_argument("--steps", type=int, default=450)
    c.add_argument("--quick", action="store_true")
    c.add_argument("--cache-workers", type=int, default=2)
    c.add_argument("--out", required=True)
    tm = sub.add_parser("time")
    tm.add_argument("--variants", nargs="+", required=True)
    tm.add_argument("--steps", type=int, default=20)
    tm.add_argument("--quick", action="store_true")
    tm.add_argument("--out", required=True)
    a = p.parse_args(argv)
    {"train": cmd_train, "table": cmd_table, "time": cmd_time, "cache": cmd_cache}[a.cmd](a)


if __name__ == "__main__":
    main(sys.argv[1:])
