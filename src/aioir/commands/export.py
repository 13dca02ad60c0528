"""``aioir export CHECKPOINT --out model.safetensors``: the plain backbone, nothing else."""

from __future__ import annotations

import argparse

NAME = "export"
HELP = "export the plain backbone of a training checkpoint to safetensors"
ORDER = 40


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="training checkpoint (.pt)")
    p.add_argument("--out", required=True, help="output .safetensors file")
    p.add_argument("--no-ema", action="store_true", help="export the live weights, not the EMA")


def run(args: argparse.Namespace) -> int:
    from aioir.inference.export import export_checkpoint

    path = export_checkpoint(args.checkpoint, args.out, use_ema=not args.no_ema)
    print(f"wrote {path}")
    return 0
