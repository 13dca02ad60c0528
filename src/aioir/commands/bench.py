"""``aioir bench CONFIG --strategies a,b --seeds N --steps N[,M] ...``: strategies side by side."""

from __future__ import annotations

import argparse

NAME = "bench"
HELP = ("train strategies x seeds x budgets on one config in parallel and compare them "
        "(mean ± std over seeds, paired differences with 95-percent intervals)")
ORDER = 12


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="base run config: a YAML as `aioir train` takes, or 'demo' / "
                                  "'demo:quick' for the demo's")
    p.add_argument("--strategies", default="mixed,tur,art",
                   help="comma-separated strategies (default mixed,tur,art)")
    p.add_argument("--seeds", default="3",
                   help="number of seeds from the config's train.seed (default 3), or a list 0,4,7")
    p.add_argument("--steps", default=None,
                   help="comma-separated budgets, one table each (default: the config's "
                        "train.steps)")
    p.add_argument("--baseline", default=None,
                   help="strategy the others are compared with (default mixed, else the first)")
    p.add_argument("--jobs", default="auto",
                   help="cells trained at once (default auto: cores // threads)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per cell (default 1)")
    p.add_argument("--out", default="aioir-bench",
                   help="bench folder (default ./aioir-bench); rerun the same command to resume")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a base config value, e.g. --set optim.lr=1e-4 (repeatable)")
    p.add_argument("--strategy-options", action="append", default=[], metavar="S.KEY=VALUE",
                   help="an option of one row, e.g. art.tau=3 or art-S.tau=3 (repeatable)")
    p.add_argument("--variant", dest="variants", action="append", default=[],
                   metavar="LABEL=STRATEGY[:FILE.yaml]",
                   help="an extra row: STRATEGY trained on the base merged with the partial run "
                        "config in FILE.yaml (stages scaled to each budget), e.g. "
                        "mixed-S=mixed:benchmarks/variants/sequential_srresnet.yaml (repeatable)")
    p.add_argument("--no-cache", action="store_true",
                   help="synthesise the data in every cell instead of sharing one stream per seed "
                        "and budget")
    p.add_argument("--boot", type=int, default=10_000,
                   help="bootstrap replicates of the intervals (default 10000)")


def run(args: argparse.Namespace) -> int:
    from aioir.bench import run_bench
    from aioir.bench.spec import (
        BenchSpec,
        base_from_source,
        parse_int_list,
        parse_seeds,
        parse_strategy_options,
        parse_variant,
    )

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if not strategies:
        raise ValueError(f"--strategies {args.strategies!r} names no strategy: give at least "
                         "one, e.g. --strategies mixed,tur,art")
    variants: dict = {}
    for text in args.variants:
        label, variant = parse_variant(text)
        if label in variants:
            raise ValueError(f"--variant {label!r} is given twice: one label per row")
        variants[label] = variant
    names = strategies + [v["strategy"] for v in variants.values()]
    base, options = base_from_source(args.config, args.overrides, names)
    given = parse_strategy_options(args.strategy_options)
    for name, opts in given.items():
        if name not in variants:
            options.setdefault(name, {}).update(opts)
    for label, variant in variants.items():  # its strategy's options, then its own
        options[label] = {**options.get(variant["strategy"], {}), **given.get(label, {})}
    options = {k: o for k, o in options.items()
               if k in strategies or k in variants or k in given}
    if args.jobs == "auto":
        jobs: int | None = None
    else:
        parsed = parse_int_list(args.jobs, "--jobs")
        if len(parsed) != 1 or parsed[0] < 1:
            raise ValueError(f"--jobs must be 'auto' or a positive integer, got {args.jobs!r}")
        jobs = parsed[0]
    spec = BenchSpec(
        base=base,
        strategies=strategies,
        seeds=parse_seeds(args.seeds, first=int(base["train"]["seed"])),
        steps=(parse_int_list(args.steps, "--steps") if args.steps
               else [int(base["train"]["steps"])]),
        baseline=args.baseline or ("mixed" if "mixed" in strategies else strategies[0]),
        strategy_options={s: o for s, o in options.items() if o},
        threads=args.threads,
        cache=not args.no_cache,
        n_boot=args.boot,
        variants=variants,
    )
    from aioir.workers import signals_interrupt

    with signals_interrupt():  # SIGTERM / SIGHUP stop the bench as Ctrl-C does
        result = run_bench(spec, args.out, jobs=jobs)
    if result.status == "interrupted":
        print(f"interrupted; the finished cells and checkpoints are kept in {result.out}. "
              "Rerun the same command to resume.")
        return 128 + (result.signal or 2)  # 130 for Ctrl-C, 143 for SIGTERM, as train
    if result.status == "failed":
        for name, error in result.errors.items():
            print(f"cell {name} failed: {error}")
        print("The other cells are kept; fix the cause and rerun the same command to resume.")
        return 1
    print(result.markdown)
    print(f"Trained {len(result.trained)} cell(s), reused {len(result.reused)}. Results: "
          f"{result.out / 'results.md'} (.csv, .json)")
    return 0
