"""``aioir diffusion pretrain|sample|match|finetune|incremental|eval``: the diffusion paradigm.

The logic lives in :mod:`aioir.diffusion.pipeline`; this module only parses and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "diffusion"
HELP = "diffusion training paradigm: pretrain, sample, match t_mat, finetune (GEF), incremental"
ORDER = 25


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML run config with model.name: diffusion (configs/diffusion/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--resume", default=None, metavar="auto|PATH",
                   help="continue the latest checkpoint of the run folder (auto) or a given one")
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
                     help="run config whose data gives the tasks (default: the embedded photos "
                          "with the 7 MiOIR tasks)")
    mat.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    mat.add_argument("--tasks", default=None, help="comma-separated tasks (embedded data)")
    mat.add_argument("--setting", default=None, help="a setting's tasks (with --root)")
    mat.add_argument("--root", default=None, help="dataset root of --setting")
    mat.add_argument("--pairs", type=int, default=8, help="training pairs per task")
    mat.add_argument("--size", type=int, default=64, help="patch size of the pairs")
    mat.add_argument("--criterion", default="step", choices=["step", "x0", "sdedit"])
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
    inc.add_argument("--steps-per-task", type=int, default=None, metavar="N",
                     help="steps of every stage (default: train.steps / number of tasks)")
    inc.add_argument("--order", default="increasing", choices=["increasing", "decreasing"])
    inc.add_argument("--replay", default="all", choices=["all", "none"])
    inc.set_defaults(_action=_incremental)

    ev = sub.add_parser("eval", help="evaluate every task at its own t_mat")
    ev.add_argument("checkpoint", help="training checkpoint or export of a diffusion network")
    ev.add_argument("--config", default=None,
                    help="run config whose validation images to use (default: the checkpoint's)")
    ev.add_argument("--setting", default=None,
                    help="evaluate on a setting's test sets instead (with --root)")
    ev.add_argument("--root", default=None, help="dataset root of --setting")
    ev.add_argument("--out", default=None,
                    help="folder for the setting's result files (default: <checkpoint>/../eval)")
    ev.set_defaults(_action=_eval)


def run(args: argparse.Namespace) -> int:
    return int(args._action(args) or 0)


# ---------------------------------------------------------------------------- actions
def _load(args: argparse.Namespace):
    from aioir.config import load_config
    from aioir.config.schema import RunConfig

    cfg = load_config(RunConfig, args.config, args.overrides)
    return cfg, Path(args.out) if args.out else Path("runs") / cfg.name


def _report(result, args: argparse.Namespace, run_dir: Path) -> int:
    print(f"{result.status} at step {result.step} in {result.seconds:.0f} s; run folder: "
          f"{result.run_dir}; checkpoint: {result.checkpoint}")
    if result.status == "interrupted":
        extra = "".join(f" --{k} {getattr(args, k)}" for k in ("pretrained", "tmat")
                        if getattr(args, k, None))
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
                       dist=dist)
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
    from aioir.config import load_config
    from aioir.config.schema import RunConfig

    if args.config:
        cfg = load_config(RunConfig, args.config, args.overrides)
    else:
        cfg = RunConfig()
    if args.setting:
        cfg.data.source, cfg.data.setting, cfg.data.root = "setting", args.setting, args.root
        if not args.root:
            raise ValueError(f"--root is required with --setting {args.setting}")
    if args.tasks:
        cfg.data.source = "embedded" if cfg.data.source == "setting" else cfg.data.source
        cfg.data.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    return cfg


def _match(args: argparse.Namespace) -> int:
    from aioir.diffusion.matching import PAPER_TMAT, summary_line, table_rows
    from aioir.diffusion.pipeline import match, write_match_table
    from aioir.report.tables import markdown_table

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
    from aioir.report.tables import validation_table

    cfg, run_dir = _load(args)
    dist = _distributed(cfg)
    try:
        out = finetune(cfg, run_dir, pretrained=args.pretrained, tmat=args.tmat,
                       resume=args.resume, dist=dist)
    finally:
        dist.shutdown()
    if not dist.is_main:
        return 0
    code = _report(out.train, args, run_dir)
    if out.evaluation:
        print("\nevaluation, every task at its t_mat:\n")
        print(validation_table(out.evaluation))
    return code


def _incremental(args: argparse.Namespace) -> int:
    from aioir.diffusion.pipeline import incremental
    from aioir.engine import builders
    from aioir.report.tables import validation_table

    cfg, run_dir = _load(args)
    steps = args.steps_per_task or max(1, cfg.train.steps // len(builders.task_names(cfg)))
    dist = _distributed(cfg)
    try:
        out = incremental(cfg, run_dir, pretrained=args.pretrained, tmat=args.tmat,
                          steps_per_task=steps, order=args.order, replay=args.replay,
                          resume=args.resume, dist=dist)
    finally:
        dist.shutdown()
    if not dist.is_main:
        return 0
    code = _report(out.train, args, run_dir)
    if out.evaluation:
        print("\nevaluation, every task at its t_mat:\n")
        print(validation_table(out.evaluation))
    return code


def _eval(args: argparse.Namespace) -> int:
    from aioir.config import from_dict, load_config
    from aioir.config.schema import RunConfig
    from aioir.diffusion.data import validation_samples
    from aioir.diffusion.evaluate import evaluate_per_task
    from aioir.inference.export import load_network
    from aioir.report.tables import validation_table

    net, meta = load_network(args.checkpoint)
    if args.setting:
        return _eval_setting(net, meta, args)
    if args.config:
        cfg = load_config(RunConfig, args.config)
    elif "config" in meta:
        cfg = from_dict(RunConfig, meta["config"])
    else:
        raise ValueError(f"{args.checkpoint} carries no run config; pass --config")
    if cfg.data.source == "setting":
        raise ValueError("aioir diffusion eval reads the run's own validation images "
                         "(embedded or folder sources); this run uses a setting")
    result = evaluate_per_task(net, validation_samples(cfg), meta["tasks"], cfg.val.protocol,
                               measure_input=True)
    print(validation_table(result.to_dict()))
    return 0


def _eval_setting(net, meta, args: argparse.Namespace) -> int:
    from aioir.diffusion.data import setting_test_groups
    from aioir.diffusion.evaluate import evaluate_per_task
    from aioir.report.tables import INPUT_ROW, results_table
    from aioir.report.writers import write_results
    from aioir.settings import get_setting
    from aioir.settings.evaluate import lpips_status

    if not args.root:
        raise ValueError(f"--root is required with --setting {args.setting}")
    setting = get_setting(args.setting)
    protocol, lpips_note = lpips_status(setting.protocol)
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent / "eval"
    for group, columns, samples, task_of in setting_test_groups(args.setting, args.root):
        result = evaluate_per_task(net, samples, columns, protocol, measure_input=True,
                                   task_of=task_of, progress=True)
        summary = result.to_dict()
        rows = {INPUT_ROW: {"per_task": summary["input_per_task"],
                            "average": summary["input_average"]},
                Path(args.checkpoint).stem: summary}
        print(f"\n## {setting.name} ({group}), every task at its t_mat\n")
        print(results_table(rows, result.task_names, protocol=result.protocol.describe()))
        if lpips_note:
            print(f"\n{lpips_note}")
        summary.update(setting=setting.name, group=group, checkpoint=str(args.checkpoint))
        stem = f"diffusion_eval_{setting.name}" + ("" if group == "main" else f"_{group}")
        written = write_results(summary, out, stem=stem)
        print(f"written: {', '.join(str(p) for p in written)}")
    return 0
