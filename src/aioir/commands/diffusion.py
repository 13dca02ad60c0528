"""``aioir diffusion pretrain|sample|match|finetune|incremental|eval``: the diffusion paradigm.

The logic lives in :mod:`aioir.diffusion.pipeline`; this module only parses and prints. The
training commands take ``aioir train``'s ``--set``, ``--steps N`` (every budget scaled,
:func:`aioir.config.budget.scale_budget`), ``--resume`` and ``--allow-changes``;
``aioir diffusion eval`` is ``aioir eval`` (every evaluation gives a diffusion network each test
set's task step through the network's ``task_context`` hook).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

NAME = "diffusion"
HELP = "diffusion training paradigm: pretrain, sample, match t_mat, finetune (GEF), incremental"
ORDER = 25


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML run config with model.name: diffusion (configs/diffusion/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--steps", type=int, default=None, metavar="N",
                   help="train N steps in all, every budget and interval scaled in proportion "
                        "(as `aioir train --steps`)")
    p.add_argument("--resume", default=None, metavar="auto|PATH",
                   help="continue the latest checkpoint of the run folder (auto) or a given one")
    p.add_argument("--allow-changes", action="store_true",
                   help="with --resume: continue even if the config changes the run's maths")
    p.add_argument("--out", default=None, help="run folder (default: runs/<name>)")


def _pretrained_arguments(p: argparse.ArgumentParser, tmat_required: bool = False) -> None:
    p.add_argument("--pretrained", required=True, metavar="RUN|FILE",
                   help="the pre-training run folder (or its pretrained.safetensors)")
    p.add_argument("--tmat", required=tmat_required, default=None, metavar="FILE|DIR|paper",
                   help="t_mat table written by `aioir diffusion match` (t_mat.json or its "
                        "folder), or 'paper' for the paper's values (default: the config's "
                        "model.options.task_t)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    pre = sub.add_parser("pretrain", help="generative pre-training on clean images (DDPM, T=50)")
    _run_arguments(pre)
    pre.add_argument("--importance-batches", type=int, default=16, metavar="N",
                     help="batches of clean images for the parameter importance of L_reg")
    pre.add_argument("--samples", type=int, default=4, metavar="N",
                     help="images sampled into samples.png for a visual check (0: none)")
    pre.set_defaults(_action=_pretrain)

    smp = sub.add_parser("sample", help="sample images from a pre-trained network")
    smp.add_argument("checkpoint", help="pre-training run folder, checkpoint or export")
    smp.add_argument("--out", required=True, help="output PNG (the images side by side)")
    smp.add_argument("--count", type=int, default=4)
    smp.add_argument("--size", type=int, default=64)
    smp.add_argument("--seed", type=int, default=0)
    smp.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    smp.set_defaults(_action=_sample)

    mat = sub.add_parser("match", help="t_mat per task (Algorithm 2), beside the paper's table")
    mat.add_argument("checkpoint", help="pre-training run folder, checkpoint or export")
    mat.add_argument("--config", default=None,
                     help="run config whose data gives the pairs (default: the embedded photos "
                          "with the 7 MiOIR tasks)")
    mat.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    mat.add_argument("--tasks", default=None,
                     help="comma-separated tasks (data.tasks: a subset of the setting's, or any "
                          "catalogue tasks on the embedded photos)")
    mat.add_argument("--setting", default=None,
                     help="the pairs of a setting's training data (data.setting; with --root)")
    mat.add_argument("--root", default=None, help="dataset root of --setting (data.root)")
    mat.add_argument("--pairs", type=int, default=8, help="training pairs per task")
    mat.add_argument("--size", type=int, default=64, help="patch size of the pairs")
    mat.add_argument("--criterion", default="x0",
                     choices=["x0", "step", "sdedit", "x0_raw", "step_raw"])
    mat.add_argument("--seed", type=int, default=0)
    mat.add_argument("--out", default=None,
                     help="folder for t_mat.md/.csv/.json (default: <checkpoint folder>/match)")
    mat.add_argument("--overwrite", action="store_true", help="replace an existing table")
    mat.set_defaults(_action=_match)

    fin = sub.add_parser("finetune", help="restoration fine-tuning at t_mat (+ GEF)")
    _run_arguments(fin)
    _pretrained_arguments(fin)
    fin.set_defaults(_action=_finetune)

    inc = sub.add_parser("incremental", help="time-sequential incremental training (+ MoE)")
    _run_arguments(inc)
    _pretrained_arguments(inc)
    inc.add_argument("--steps-per-task", default=None, metavar="N|N1,N2,...",
                     help="steps of every stage, or one budget per stage in t_mat order "
                          "(default: train.steps split evenly over the tasks)")
    inc.add_argument("--order", default="increasing", choices=["increasing", "decreasing"])
    inc.add_argument("--replay", default="all", choices=["all", "none"])
    inc.add_argument("--keep-optimizer", action="store_true",
                     help="carry Adam's moments across stages (default: every stage after the "
                          "first starts a fresh optimizer, see docs/diffusion.md)")
    inc.set_defaults(_action=_incremental)

    from aioir.commands import eval as eval_command

    ev = sub.add_parser("eval", help="evaluate every task at its own t_mat (= aioir eval)")
    eval_command.add_arguments(ev)
    ev.set_defaults(_action=eval_command.run)


def run(args: argparse.Namespace) -> int:
    return int(args._action(args) or 0)


# ---------------------------------------------------------------------------- actions
def _load(args: argparse.Namespace):
    from aioir.config import load_config
    from aioir.config.schema import RunConfig
    from aioir.files import path_component

    cfg = load_config(RunConfig, args.config, args.overrides)
    if args.steps is not None:
        from aioir.config.budget import scale_budget

        cfg, lines = scale_budget(cfg, args.steps)
        for line in lines:
            print(line)
    return cfg, Path(args.out) if args.out else Path("runs") / path_component(cfg.name)


def _report(result, args: argparse.Namespace, run_dir: Path) -> int:
    print(f"{result.status} at step {result.step} in {result.seconds:.0f} s; run folder: "
          f"{result.run_dir}; checkpoint: {result.checkpoint}")
    if result.status == "interrupted":
        import shlex

        keys = ("pretrained", "tmat", "steps", "steps_per_task", "order", "replay")
        extra = "".join(f" --{k.replace('_', '-')} {shlex.quote(str(getattr(args, k)))}"
                        for k in keys if getattr(args, k, None) is not None)
        extra += "".join(f" --set {shlex.quote(o)}" for o in args.overrides)
        extra += " --keep-optimizer" if getattr(args, "keep_optimizer", False) else ""
        print(f"resume with: aioir diffusion {args.action} {args.config} --out {run_dir} "
              f"--resume auto{extra}")
        return 128 + (result.signal or 2)
    return 0


def _distributed(cfg):
    """The process group under torchrun (one process otherwise), as ``aioir train`` does."""
    from aioir.engine.distributed import from_environment

    return from_environment(cfg.train.device)


def _pretrain(args: argparse.Namespace) -> int:
    from aioir.diffusion.pipeline import pretrain

    cfg, run_dir = _load(args)
    dist = _distributed(cfg)
    try:
        out = pretrain(cfg, run_dir, resume=args.resume,
                       importance_batches=args.importance_batches, sample_count=args.samples,
                       dist=dist, allow_changes=args.allow_changes)
    finally:
        dist.shutdown()
    if not dist.is_main:
        return 0
    code = _report(out.train, args, run_dir)
    if out.weights:
        print(f"pre-trained network: {out.weights}\nprior for L_reg: {out.prior}")
    if out.samples:
        print(f"samples: {out.samples}")
    return code


def _sample(args: argparse.Namespace) -> int:
    from aioir.diffusion.pipeline import sample

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} exists; choose another --out or pass --overwrite")
    print(f"wrote {sample(args.checkpoint, out, count=args.count, size=args.size, seed=args.seed)}")
    return 0


def _match_config(args: argparse.Namespace):
    from aioir.config import apply_overrides, from_dict, load_config
    from aioir.config.schema import RunConfig

    cfg = (load_config(RunConfig, args.config, args.overrides) if args.config
           else from_dict(RunConfig, apply_overrides({}, args.overrides)))
    if args.setting:
        from aioir.settings import get_setting

        if not args.root and get_setting(args.setting).needs_root:
            raise ValueError(f"--root is required with --setting {args.setting}")
        cfg.data.setting, cfg.data.tasks = args.setting, None
    if args.root:
        cfg.data.root = args.root
    if args.tasks:
        cfg.data.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    return cfg


def _match(args: argparse.Namespace) -> int:
    from aioir.diffusion.matching import PAPER_TMAT, summary_line, table_rows
    from aioir.diffusion.pipeline import match, write_match_table
    from aioir.markdown import markdown_table

    cfg = _match_config(args)
    ckpt = Path(args.checkpoint)
    out = Path(args.out) if args.out else (ckpt if ckpt.is_dir() else ckpt.parent) / "match"
    if (out / "t_mat.json").exists() and not args.overwrite:
        raise ValueError(f"{out / 't_mat.json'} exists; choose another --out or pass --overwrite")
    rows = match(ckpt, cfg, pairs=args.pairs, patch_size=args.size, criterion=args.criterion,
                 seed=args.seed)
    meta = {"checkpoint": str(ckpt), "criterion": args.criterion, "pairs": args.pairs,
            "patch_size": args.size, "seed": args.seed}
    written = write_match_table(rows, out, meta=meta)
    headers, body = table_rows(rows)
    print(f"t_mat ({args.criterion}, {args.pairs} pairs per task, {args.size} px), ours beside "
          "the paper's:\n")
    print(markdown_table(headers, body))
    print("\n" + summary_line(rows))
    print("paper (Tab. 4, 10-task DA-CLIP setting): "
          + ", ".join(f"{k} {v}" for k, v in PAPER_TMAT.items()))
    print(f"\nwritten: {', '.join(str(p) for p in written)}")
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from aioir.diffusion.pipeline import finetune
    cfg, run_dir = _load(args)
    dist = _distributed(cfg)
    try:
        out = finetune(cfg, run_dir, pretrained=args.pretrained, tmat=args.tmat,
                       resume=args.resume, dist=dist, allow_changes=args.allow_changes)
    finally:
        dist.shutdown()
    if not dist.is_main:
        return 0
    return _report_with_evaluation(out, args, run_dir)


def _report_with_evaluation(out: Any, args: argparse.Namespace, run_dir: Path) -> int:
    """The run's report, then its final evaluation (every task at its t_mat) when it has one."""
    from aioir.report.tables import validation_table

    code = _report(out.train, args, run_dir)
    if out.evaluation:
        print("\nevaluation, every task at its t_mat:\n")
        print(validation_table(out.evaluation))
    return code


def _budgets(text: str | None) -> int | list[int] | None:
    """``--steps-per-task``: ``None``, one budget, or one per stage."""
    if text is None:
        return None
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--steps-per-task: expected N or N1,N2,..., got {text!r}") from None
    if not values:
        raise ValueError(f"--steps-per-task: expected N or N1,N2,..., got {text!r}")
    return values[0] if len(values) == 1 and "," not in str(text) else values


def _incremental(args: argparse.Namespace) -> int:
    from aioir.diffusion.pipeline import incremental

    cfg, run_dir = _load(args)
    dist = _distributed(cfg)
    try:
        out = incremental(cfg, run_dir, pretrained=args.pretrained, tmat=args.tmat,
                          steps_per_task=_budgets(args.steps_per_task), order=args.order,
                          replay=args.replay, fresh_optimizer=not args.keep_optimizer,
                          resume=args.resume, dist=dist, allow_changes=args.allow_changes)
    finally:
        dist.shutdown()
    if not dist.is_main:
        return 0
    return _report_with_evaluation(out, args, run_dir)
