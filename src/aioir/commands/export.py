"""``aioir export CHECKPOINT --out FILE [--format safetensors|torchscript|onnx] [--check]``.

The plain backbone, nothing else (no uncertainty head, no strategy state), with the EMA
weights unless ``--no-ema``. ``--check`` runs the exported file with its own runtime on a test
photograph and two odd-sized inputs and compares with PyTorch (see
:mod:`aioir.inference.graph_export`); a file that fails the check is not written. An existing
``--out`` is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse

from aioir.commands._network import CHECKPOINT_HELP, add_network_arguments

NAME = "export"
HELP = "export the plain backbone of a checkpoint (safetensors, TorchScript, ONNX), checked"
ORDER = 40


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("--out", required=True,
                   help="output file: .safetensors, .ts (TorchScript) or .onnx, per --format")
    p.add_argument("--format", choices=("safetensors", "torchscript", "onnx"),
                   default="safetensors", help="file format (default safetensors)")
    p.add_argument("--check", action="store_true",
                   help="run the exported file and compare it with PyTorch (max abs diff <= 1e-4)")
    p.add_argument("--opset", type=int, default=None, help="ONNX operator set (default 17)")
    p.add_argument("--no-ema", action="store_true", help="export the live weights, not the EMA")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_network_arguments(p)


def run(args: argparse.Namespace) -> int:
    from aioir.inference.export import export_checkpoint
    from aioir.models.release import parse_model_options
    from aioir.workers import signals_interrupt

    if args.opset is not None and args.format != "onnx":
        raise ValueError("--opset applies to --format onnx only")
    with signals_interrupt():  # SIGTERM / SIGHUP: the temporary file is removed, exit 143
        report = export_checkpoint(args.checkpoint, args.out, fmt=args.format,
                                   use_ema=not args.no_ema, check=args.check, opset=args.opset,
                                   overwrite=args.overwrite, model=args.model,
                                   options=parse_model_options(args.option), tasks=args.tasks)
    if report.chosen:
        print(report.chosen)
    print(f"wrote {report.path} ({report.fmt}, {report.model}, {report.weights} weights)")
    if report.check is not None:
        print(report.check.summary())
    return 0
