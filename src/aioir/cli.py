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


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or ``None`` for a bug (which keeps
    its traceback).

    User errors: :class:`aioir.errors.UserError` (a busy run folder, a diverged run, a write
    that failed), ``ValueError`` (config errors, bad images, checkpoints that do not fit, ...),
    ``KeyError`` (unknown names), ``OSError`` (files: the message names the file and the cause
    in words) and running out of memory.

    >>> user_error_message(FileNotFoundError(2, "No such file or directory", "a.pt"))
    'a.pt: No such file or directory'
    >>> user_error_message(OSError(28, "No space left on device", "/x/ck.pt"))
    '/x/ck.pt: the disk is full (no space left on device): free some space or write somewhere else'
    >>> user_error_message(TypeError("a bug")) is None
    True
    """
    from aioir.errors import OutputError, UserError

    if isinstance(exc, (UserError, OutputError)):
        return str(exc)
    if isinstance(exc, KeyError):
        return str(exc.args[0]) if exc.args else str(exc)
    if isinstance(exc, OSError):
        from aioir.files import describe_os_error

        where = f"{exc.filename}: " if exc.filename else ""
        return where + describe_os_error(exc)
    if isinstance(exc, ValueError):
        return str(exc)
    torch = sys.modules.get("torch")
    oom = (MemoryError,) + ((torch.OutOfMemoryError,) if torch is not None
                            and hasattr(torch, "OutOfMemoryError") else ())
    if isinstance(exc, oom):
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return (f"out of memory{': ' + detail if detail else ''}; use smaller batches or "
                "patches (data.batch_size, data.patch_size), --tile for large images, or "
                "another device")
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aioir`` console script.

    A mistake ends in one line ``aioir COMMAND: error: ...`` and exit status 2; a bug keeps its
    traceback. ``AIOIR_DEBUG=1`` shows the traceback of every error.
    """
    import os

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM / SIGHUP (aioir.workers.Interrupted)
        print("interrupted", file=sys.stderr)
        return 128 + int(getattr(exc, "signum", 2))
    except Exception as exc:
        message = user_error_message(exc)
        if message is None or os.environ.get("AIOIR_DEBUG"):
            raise
        print(f"aioir {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
