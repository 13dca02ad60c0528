"""``aioir import FILE [--model NAME] [--tasks T...] --out model.safetensors``.

Turns the authors' released weights (any layout of docs/models.md) into a self-describing aioir
file: the backbone's weights, its name and options, the tasks it was trained on and, for the
record, the source file's name, layout and sha256 (``safetensors`` metadata). Every command then
takes it like an export of a trained run. The architecture is read off the keys when
``--model`` is left out (and named); the weights are checked strictly before anything is
written. An existing ``--out`` is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse

NAME = "import"
HELP = "turn the authors' released weights into a self-describing aioir .safetensors file"
ORDER = 46


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="released weights (.pth, .ckpt, .safetensors, ...)")
    p.add_argument("--out", required=True, help="the aioir file to write (.safetensors)")
    p.add_argument("--model", default=None, metavar="NAME",
                   help="backbone the file holds (default: detected from its keys)")
    p.add_argument("--option", action="append", default=None, metavar="NAME=VALUE",
                   help="a constructor option not readable from the weights (repeatable)")
    p.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help="tasks the weights were trained on, in order (e.g. noise rain haze)")
    p.add_argument("--key", default=None,
                   help="entry holding the weights (default params_ema, params, state_dict)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def run(args: argparse.Namespace) -> int:
    from aioir.inference.importing import import_release
    from aioir.models.release import describe_choice, parse_model_options

    path, meta = import_release(args.file, args.out, model=args.model,
                                options=parse_model_options(args.option), tasks=args.tasks,
                                key=args.key, overwrite=args.overwrite)
    print(describe_choice(meta))
    print(f"wrote {path} ({meta['model']}, tasks: {', '.join(meta['tasks']) or 'not recorded'}, "
          f"source sha256 {meta['sha256'][:12]}...)")
    return 0
