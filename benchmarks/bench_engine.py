"""Step time of the engine against a bare PyTorch loop on the same model and the same batches.

The engine runs a real ``aioir.engine.run.train`` (mixed strategy, progress display, JSONL and
TensorBoard logging every ``train.log_every`` steps, EMA, periodic checkpoints: all at their
defaults for a real run; the data comes from the shared data cache as in ``aioir demo`` and
``aioir bench``). The bare loop is what one writes by hand: ``model(lq)``, L1, ``backward``,
``Adam.step``, an EMA update of the parameters, on batches pre-built from the same cache.
Both start from the same seed and initial weights and see the same batches in the same order.

The two are interleaved in rounds inside one process: after every ``--round`` engine steps
(timed between the engine's ``on_step`` callbacks, so the engine's own logging, progress and
checkpointing are counted) the bare loop trains the same ``--round`` batches. Machine load
drifts therefore hit both alike. Printed: median and mean per-step time of each and their
ratios, and the largest weight difference of the two trained networks (they compute the same
updates, up to floating-point summation order).

    python benchmarks/bench_engine.py --model tiny_unet --options '{"width": 24}' \
        --batch 16 --patch 64 --steps 400 --round 10 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def build_config(a: argparse.Namespace, cache: Path):
    from aioir.config.schema import RunConfig

    cfg = RunConfig(name="bench-engine")
    cfg.model.name = a.model
    cfg.model.options = json.loads(a.options)
    cfg.data.patch_size = a.patch
    cfg.data.batch_size = a.batch
    cfg.data.cache = str(cache)
    cfg.optim.lr = 1e-3
    cfg.schedule.name = "constant"
    cfg.train.steps = a.steps
    cfg.train.seed = 0
    cfg.train.device = "cpu"
    cfg.train.threads = a.threads
    cfg.val.enabled = False  # validation is not part of a step
    if a.set:  # experiments: e.g. --set train.log_every=1000000
        from aioir.config import apply_overrides, from_dict, to_dict

        cfg = from_dict(RunConfig, apply_overrides(to_dict(cfg), a.set))
    return cfg


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny_unet")
    p.add_argument("--options", default='{"width": 24}', help="backbone options as JSON")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--steps", type=int, default=400, help="engine steps (a multiple of --round)")
    p.add_argument("--round", type=int, default=10, help="steps per timed round")
    p.add_argument("--warmup-rounds", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--components", action="store_true",
                   help="also time the engine's extra pieces alone (data, strategy, EMA, log)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override the engine's run config (the bare loop follows lr and EMA)")
    a = p.parse_args()
    if a.steps % a.round:
        p.error("--steps must be a multiple of --round")
    torch.set_num_threads(a.threads)

    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:  # cache, run: removed
        run(a, Path(tmp))


def run(a: argparse.Namespace, work: Path) -> None:
    from aioir import models
    from aioir.engine.run import train
    from aioir.settings.assemble import resolve_setting, train_dataset

    cfg = build_config(a, work / "cache")
    dataset = train_dataset(cfg, resolve_setting(cfg))
    collate = torch.utils.data.default_collate
    batches = [collate([dataset[i] for i in range(s * a.batch, (s + 1) * a.batch)])
               for s in range(a.steps)]

    torch.manual_seed(cfg.train.seed)  # the engine seeds the same way before building the model
    net = models.build(cfg.model.name, **cfg.model.options)
    ema = copy.deepcopy(net)
    for q in ema.parameters():
        q.requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
    decay = cfg.train.ema_decay  # 0: no EMA in either loop
    pairs = list(zip(ema.parameters(), net.parameters()))

    def bare_step(batch: dict) -> None:
        opt.zero_grad(set_to_none=True)
        loss = (net(batch["lq"]) - batch["gt"]).abs().mean()
        loss.backward()
        opt.step()
        if decay:
            with torch.no_grad():
                for e, w in pairs:
                    e.mul_(decay).add_(w, alpha=1 - decay)

    engine_t: list[float] = []
    bare_t: list[float] = []
    mark = [0.0]

    def on_step(step: int) -> None:
        if step % a.round:
            return
        engine_t.append((time.perf_counter() - mark[0]) / a.round)
        t0 = time.perf_counter()
        for s in range(step - a.round, step):
            bare_step(batches[s])
        bare_t.append((time.perf_counter() - t0) / a.round)
        mark[0] = time.perf_counter()

    mark[0] = time.perf_counter()
    result = train(cfg, work / "run", on_step=on_step)
    engine_net = torch.load(result.checkpoint, weights_only=True)["model"]
    diff = max(float((engine_net[k] - v).abs().max()) for k, v in net.state_dict().items())

    e, b = engine_t[a.warmup_rounds:], bare_t[a.warmup_rounds:]
    med_e, med_b = statistics.median(e), statistics.median(b)
    mean_e, mean_b = statistics.fmean(e), statistics.fmean(b)
    print(f"{a.model} {a.options}, batch {a.batch} x {a.patch} px, {a.threads} thread(s), "
          f"{len(e)} timed rounds of {a.round} steps", file=sys.stderr)
    print("| loop | median ms/step | mean ms/step |")
    print("|---|---:|---:|")
    print(f"| bare PyTorch | {1000 * med_b:.1f} | {1000 * mean_b:.1f} |")
    print(f"| engine | {1000 * med_e:.1f} | {1000 * mean_e:.1f} |")
    print(f"| engine / bare | {med_e / med_b:.3f} x | {mean_e / mean_b:.3f} x |")
    print(f"\nlargest weight difference engine vs bare after {a.steps} steps: {diff:.2e}")
    if a.components:
        components(cfg, dataset, batches[0], net, work)


def _median_ms(fn, reps: int = 200, rounds: int = 5) -> float:
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps // rounds):
            fn()
        times.append((time.perf_counter() - t0) / (reps // rounds))
    return 1000 * statistics.median(times)


def components(cfg, dataset, batch: dict, net: torch.nn.Module, work: Path) -> None:
    """What the engine does besides the bare loop, each timed alone (ms per call)."""
    import io

    from aioir import strategies
    from aioir.engine.ema import ModelEMA
    from aioir.engine.logger import MetricsLog
    from aioir.progress import LineProgress

    b = cfg.data.batch_size
    collate = torch.utils.data.default_collate
    from aioir.settings.assemble import resolve_setting

    names = list(resolve_setting(cfg).task_names)
    k = len(names)
    pred = net(batch["lq"]).detach().requires_grad_(True)
    mixed = strategies.build("mixed", num_tasks=k)
    ema, bare_ema = ModelEMA(net, 0.999), copy.deepcopy(net)
    pairs = list(zip(bare_ema.parameters(), net.parameters()))

    def bare_ema_step() -> None:
        with torch.no_grad():
            for e, w in pairs:
                e.mul_(0.999).add_(w, alpha=0.001)

    log = MetricsLog(work / "components.jsonl")
    record = {"step": 1, "loss": 0.1, "lr": 1e-3, "stepped": True,
              "task_loss": dict.fromkeys(names, 0.1), "task_weight": dict.fromkeys(names, 0.1)}
    bar = LineProgress(total=10**9, file=io.StringIO())
    rows = [
        ("read + collate one batch from the cache", _median_ms(
            lambda: collate([dataset[i] for i in range(b)]))),
        ("mixed strategy loss + per-task statistics", _median_ms(
            lambda: mixed(pred, batch["gt"], batch["task_id"]))),
        ("plain L1 (the bare loop's loss)", _median_ms(
            lambda: (pred - batch["gt"]).abs().mean())),
        ("EMA update, engine (ModelEMA)", _median_ms(lambda: ema.update(net))),
        ("EMA update, bare loop", _median_ms(bare_ema_step)),
        (f"JSONL + TensorBoard record (every {cfg.train.log_every} steps)",
         _median_ms(lambda: log.write(record), reps=50)),
        ("progress display update", _median_ms(lambda: bar.update(1))),
    ]
    log.close()
    print("\n| engine component, timed alone | ms per call |")
    print("|---|---:|")
    for label, ms in rows:
        print(f"| {label} | {ms:.3f} |")


if __name__ == "__main__":
    main()
