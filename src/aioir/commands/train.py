"""``aioir train CONFIG [--set key=value ...] [--steps N] [--resume auto|PATH]
[--allow-changes] [--out DIR]``.

``--steps N`` shortens (or lengthens) the run, every stage in proportion
(:func:`aioir.config.budget.scale_budget`); the scaled schedule is printed and saved in the
run folder's ``config.yaml``.

One process at a time trains into a run folder (a second is refused, naming the first). A
resume whose config changes the run's maths (``--set optim.lr=...``, a longer ``train.steps``,
another width, ...) is refused, naming the keys, unless ``--allow-changes``; keys that change
no number (logging, checkpoint interval, progress bar, workers, validation) and those that
only change the floating-point order (threads, device) need no permission. The first config
stays in ``config.yaml``; each resume records its own in ``configs/config_<step>.yaml``. See
``docs/reliability.md``.
"""

from __future__ import annotations

import argparse

NAME = "train"
HELP = "train a backbone with a strategy from a YAML config (also under torchrun)"
ORDER = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML run config (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=1e-4 (repeatable)")
    p.add_argument("--steps", type=int, default=None, metavar="N",
                   help="train N steps: every stage, the warm-up and the checkpoint/log/val "
                        "intervals scaled in proportion (e.g. try a paper recipe briefly)")
    p.add_argument("--resume", default=None, metavar="auto|PATH",
                   help="continue the latest checkpoint of the run folder (auto) or a given one")
    p.add_argument("--allow-changes", action="store_true",
                   help="with --resume: continue even if the config changes the run's maths "
                        "(e.g. a new optim.lr); the new config is recorded in configs/")
    p.add_argument("--out", default=None, help="run folder (default: runs/<name>)")


def run(args: argparse.Namespace) -> int:
    import os
    from contextlib import nullcontext
    from pathlib import Path

    from aioir.progress import working

    # PyTorch, the network, data and optimizer take seconds to load and build (an optimizer
    # imports PyTorch's compiler): say so, with a moving clock, on the first rank
    loading = (working(f"preparing the run of {args.config}: loading PyTorch")
               if os.environ.get("RANK", "0") == "0" else nullcontext())
    with loading:
        from aioir.config import load_config
        from aioir.config.schema import RunConfig
        from aioir.engine.distributed import from_environment
        from aioir.engine.run import train

    cfg = load_config(RunConfig, args.config, args.overrides)
    if args.steps is not None:
        from aioir.config.budget import scale_budget

        cfg, lines = scale_budget(cfg, args.steps)
        for line in lines:
            print(line)
    from aioir.files import path_component

    run_dir = Path(args.out) if args.out else Path("runs") / path_component(cfg.name)
    dist = from_environment(cfg.train.device)
    if not cfg.train.progress and dist.is_main:  # e.g. a demo or bench run's config.yaml,
        # whose display was its parent's: say why nothing moves until the end
        print(f"train.progress is false in {args.config}: no progress display until the run "
              "ends (--set train.progress=true shows one; the run writes train.log)")
    # building the network, data (a cache to synthesise) and optimizer: a clock until the
    # first display of the run (its data cache or training bar) takes over
    building = (working(f"building the run into {run_dir}: network, data, optimizer")
                if cfg.train.progress and dist.is_main else nullcontext())
    try:
        with building:
            result = train(cfg, run_dir, resume=args.resume, dist=dist,
                           allow_changes=args.allow_changes)
    finally:
        dist.shutdown()
    if dist.is_main:
        print(f"{result.status} at step {result.step} in {result.seconds:.0f} s; run folder: "
              f"{result.run_dir}; checkpoint: {result.checkpoint}")
        if result.validation:
            from aioir.report.tables import validation_table

            print(validation_table(result.validation))
    if result.status == "interrupted":
        print(f"resume with: aioir train {args.config} --out {run_dir} --resume auto")
        return 128 + (result.signal or 2)
    return 0
