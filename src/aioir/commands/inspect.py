"""``aioir inspect FILE [--model NAME]``: what a checkpoint or weights file is.

Prints the kind (aioir training checkpoint, aioir export or imported weights, the authors'
released weights), the layout, the architecture and its options (read off the keys for released
weights; several candidates are listed with the ``--model`` that picks one), the parameter
count and the tasks when known (:mod:`aioir.inference.describe`). Nothing is built or written.
"""

from __future__ import annotations

import argparse

NAME = "inspect"
HELP = "say what a checkpoint or released weights file holds (layout, architecture, options)"
ORDER = 47


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="checkpoint (.pt), aioir .safetensors, or released weights")
    p.add_argument("--model", default=None, metavar="NAME",
                   help="read released weights as this backbone (default: detect)")
    p.add_argument("--option", action="append", default=None, metavar="NAME=VALUE",
                   help="a constructor option not readable from the weights (repeatable)")


def run(args: argparse.Namespace) -> int:
    from aioir.inference.describe import describe_file, format_description
    from aioir.models.release import parse_model_options

    info = describe_file(args.file, model=args.model, options=parse_model_options(args.option))
    print(format_description(info))
    return 1 if "error" in info else 0
