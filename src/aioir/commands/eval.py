"""``aioir eval CHECKPOINT [--setting NAME --root DIR] [--tile N]``."""

from __future__ import annotations

import argparse

NAME = "eval"
HELP = "per-task PSNR/SSIM of a checkpoint: on a benchmark setting, or on its validation images"
ORDER = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="training checkpoint (.pt) or exported .safetensors")
    p.add_argument("--setting", default=None, help="benchmark setting (see configs/settings)")
    p.add_argument("--root", default=None, help="dataset root of the setting")
    p.add_argument("--tile", type=int, default=None, help="tile size for large test images")
    p.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (default 32)")
    p.add_argument("--protocol", default=None, help="override the metric protocol (mioir, airnet, daclip)")
    p.add_argument("--out", default=None, help="folder for the CSV/JSON results")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-ema", action="store_true", help="evaluate live weights, not the EMA")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from aioir.engine.trainer import resolve_device
    from aioir.inference.export import load_network
    from aioir.inference.restore import restore_image
    from aioir.metrics import get_protocol
    from aioir.metrics.evaluate import evaluate_pairs

    device = resolve_device(args.device)
    model, meta = load_network(args.checkpoint, use_ema=not args.no_ema)
    model.to(device)

    def restore_fn(img):
        return restore_image(model, img, device=device, tile=args.tile, overlap=args.overlap)

    if args.setting:
        from aioir.settings.evaluate import evaluate_setting

        return evaluate_setting(args.setting, args.root, restore_fn, meta, args)

    from aioir.config import from_dict
    from aioir.config.schema import RunConfig
    from aioir.engine.builders import build_val_samples
    from aioir.report.tables import write_results, validation_table

    if "config" not in meta:
        raise ValueError("an exported model has no validation set: pass --setting and --root")
    cfg = from_dict(RunConfig, meta["config"])
    samples = build_val_samples(cfg, meta["tasks"])
    if samples is None:
        raise ValueError("this run has no validation images: pass --setting and --root")
    protocol = get_protocol(args.protocol or cfg.val.protocol)
    result = evaluate_pairs(restore_fn, samples, protocol, meta["tasks"])
    summary = result.to_dict()
    print(validation_table(summary))
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / "eval"
    write_results(summary, out, stem=f"eval_{Path(args.checkpoint).stem}")
    print(f"results written to {out}")
    return 0
