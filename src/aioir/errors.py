"""Exceptions that mean "the user can fix this", as opposed to a bug in aioir.

The ``aioir`` command prints these as one line naming the file, key or value at fault
(:func:`aioir.cli.main`); any other exception type is a bug and keeps its traceback.
``ValueError``, ``KeyError``, ``FileNotFoundError`` and ``OSError`` (with its file name) are
treated as user errors too; :class:`UserError` is for the rest (a locked run folder, a training
run that diverged, ...).

>>> issubclass(OutputError, OSError) and issubclass(OutputError, UserError)
True
>>> str(OutputError("cannot write x: the disk is full", 28))
'cannot write x: the disk is full'
"""

from __future__ import annotations

__all__ = ["UserError", "OutputError"]


class UserError(Exception):
    """A mistake or an environment problem the user can fix; the message says what to do."""


class OutputError(OSError, UserError):
    """A file could not be written (disk full, read-only, no permission); the message names the
    file and what to do. ``errno`` is the original error number."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(errno, message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # picklable across processes (demo workers)
        return (type(self), (self.message, self.errno))
