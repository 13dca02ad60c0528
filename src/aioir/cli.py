"""The ``aioir`` command line.

Each sub-command is one module in :mod:`aioir.commands` defining ``NAME``, ``HELP``, ``ORDER``
(position in ``aioir --help``), ``add_arguments(parser)`` and ``run(args) -> int``. The modules
import their heavy dependencies inside ``run`` so ``aioir --help`` stays fast. No business logic
lives here.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType


def _commands() -> list[ModuleType]:
    import aioir.commands as pkg

    mods = [
        importlib.import_module(f"aioir.commands.{m.name}")
        for m in pkgutil.iter_modules(pkg.__path__)
        if not m.name.startswith("_")
    ]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    from aioir import __version__

    parser = argparse.ArgumentParser(
        prog="aioir",
        description="All-in-one image restoration with task-aware optimisation strategies.",
    )
    parser.add_argument("--version", action="version", version=f"aioir {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aioir`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, KeyError) as exc:  # user errors: one clear line
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"aioir {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
