"""The options every command that takes a checkpoint shares for released weights.

``--model NAME`` (the backbone a released file holds; detected from its keys when left out),
``--option NAME=VALUE`` (a constructor option the weights cannot show, e.g. TransWeather's
heads) and ``--tasks`` (the tasks the authors trained it on). :func:`open_network` loads any
checkpoint (:func:`aioir.inference.reader.load_network`) and prints which architecture a
released file was read as.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

CHECKPOINT_HELP = ("training checkpoint (.pt), aioir .safetensors, or the authors' released "
                   "weights (.pth/.ckpt/.safetensors; see docs/models.md)")


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--option`` and ``--tasks`` (released weights only)."""
    g = p.add_argument_group("released weights (the authors' files)")
    g.add_argument("--model", default=None, metavar="NAME",
                   help="backbone the file holds (default: detected from its keys)")
    g.add_argument("--option", action="append", default=None, metavar="NAME=VALUE",
                   help="a constructor option not readable from the weights (repeatable)")
    g.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help="tasks the weights were trained on, in order (for the record)")


def open_network(args: argparse.Namespace, *, use_ema: bool = True) -> tuple[Any, dict[str, Any]]:
    """``(model, meta)`` of ``args.checkpoint`` with the released-weights options applied;
    prints (to stderr) how a released file was read."""
    from aioir.inference.reader import load_network
    from aioir.models.release import describe_choice, parse_model_options

    model, meta = load_network(args.checkpoint, use_ema=use_ema, model=args.model,
                               options=parse_model_options(args.option), tasks=args.tasks)
    line = describe_choice(meta)
    if line:
        print(line, file=sys.stderr)
    return model, meta
