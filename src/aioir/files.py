"""How aioir writes files: atomically, with the user's umask, with errors that say what to do.

* :func:`atomic_write` (and :func:`write_bytes` / :func:`write_text`) writes into a temporary
  file beside the target, flushes and fsyncs it, gives it the permissions a plain ``open()``
  would (``0o666`` minus the umask; ``tempfile.mkstemp`` alone makes ``0o600``), then renames it
  over the target (``os.replace`` is atomic on POSIX): a crash leaves the old file or the new
  one, never a truncated one. On any error the temporary file is removed.
* A failed write raises :class:`aioir.errors.OutputError` naming the file and the cause in
  words (the disk is full, the file system is read-only, no permission) and what to do.
* A temporary file's name carries the writer's process id and host
  (``.<name>.<random>.<pid>-<host>.tmp``), so :func:`remove_stale_temporaries` can delete those
  that a killed process left behind and never one that a live process is still writing.
* :func:`path_component` turns any name (a setting's, a run's) into one safe path component.

>>> import tempfile, pathlib, stat
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_write(d / "a.bin") as fh:
...     _ = fh.write(b"data")
>>> (d / "a.bin").read_bytes(), oct(stat.S_IMODE((d / "a.bin").stat().st_mode)) == oct(file_mode())
(b'data', True)
>>> sorted(p.name for p in d.iterdir())
['a.bin']
"""

from __future__ import annotations

import errno as errno_codes
import hashlib
import os
import re
import socket
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aioir.errors import OutputError

__all__ = ["atomic_write", "write_bytes", "write_text", "file_mode", "current_umask",
           "write_error", "describe_os_error", "remove_stale_temporaries", "stale_temporaries",
           "path_component", "pid_alive"]

#: a temporary file of another host (or of an older aioir without a process tag) counts as
#: abandoned when it has not been modified for this many seconds (a live writer keeps writing)
STALE_AFTER_S = 600.0

_TAGGED = re.compile(r"^\..+\.[^.]+\.(\d+)-([0-9a-f]{6})\.tmp(?:\.[A-Za-z0-9]{1,16})?$")
_UNTAGGED = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # tempfile.mkstemp names of aioir <= 0.1


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where possible, so no thread sees it changed).

    >>> 0 <= current_umask() <= 0o777
    True
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permissions of a new file as ``open()`` makes it: ``0o666`` minus the umask."""
    return 0o666 & ~current_umask()


def _host_tag() -> str:
    return f"{zlib.crc32(socket.gethostname().encode('utf-8', 'replace')) & 0xFFFFFF:06x}"


def describe_os_error(exc: OSError) -> str:
    """The cause of an ``OSError`` in words, with what to do.

    >>> describe_os_error(OSError(28, "No space left on device"))
    'the disk is full (no space left on device): free some space or write somewhere else'
    """
    code = exc.errno
    if code in (errno_codes.ENOSPC, getattr(errno_codes, "EDQUOT", -1)):
        return ("the disk is full (no space left on device): free some space or write "
                "somewhere else")
    if code == errno_codes.EEXIST:
        return "a file is in the way where a folder is needed"
    if code == errno_codes.ENOTDIR:
        return "a part of the path is a file, not a folder"
    if code == errno_codes.EISDIR:
        return "it is a folder, not a file"
    if code == errno_codes.EFBIG:
        return ("the file is larger than this process or file system allows (a file-size "
                "limit, ulimit -f): raise the limit or write somewhere else")
    if code == errno_codes.EROFS:
        return "the file system is read-only: write somewhere else"
    if code in (errno_codes.EACCES, errno_codes.EPERM):
        return "permission denied: check the folder's permissions or write somewhere else"
    return exc.strerror or str(exc)


def write_error(exc: OSError, path: str | os.PathLike[str], what: str = "file") -> OutputError:
    """An :class:`OutputError` for ``exc`` raised while writing ``path`` (``what``: e.g.
    ``"checkpoint"``).

    >>> str(write_error(OSError(30, "Read-only file system"), "/x/a.pt", "checkpoint"))
    'cannot write checkpoint /x/a.pt: the file system is read-only: write somewhere else'
    """
    if isinstance(exc, OutputError):
        return exc
    return OutputError(f"cannot write {what} {os.fspath(path)}: {describe_os_error(exc)}",
                       exc.errno)


class _Recording:
    """A binary file wrapper that remembers the first ``OSError`` of a write: writers such as
    ``torch.save`` turn it into an unhelpful ``RuntimeError`` ("unexpected pos")."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self.error: OSError | None = None
        self.path: Path | None = None  # the temporary being written (set by atomic_write)

    def write(self, data: Any) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        try:
            self._fh.flush()
        except OSError as exc:
            self.error = self.error or exc
            raise

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _fsync_dir(folder: Path) -> None:
    try:  # make the rename itself durable
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: str | os.PathLike[str], *, what: str = "file",
                 keep_suffix: bool = False) -> Iterator[Any]:
    """Yield a binary file handle whose content replaces ``path`` atomically on success.

    Parent folders are created. Any error removes the temporary file and leaves ``path`` as
    it was; an ``OSError`` (also one a writer wrapped in another exception) becomes an
    :class:`aioir.errors.OutputError` naming ``what`` and ``path``. The handle's ``path`` is
    the temporary file (for a reader that checks it before it replaces ``path``);
    ``keep_suffix`` ends its name with ``path``'s extension (readers that go by it).
    """
    path = Path(path)
    suffix = f".{os.getpid()}-{_host_tag()}.tmp" + (path.suffix if keep_suffix else "")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise write_error(exc, path, what) from exc
    rec: _Recording | None = None
    try:
        with os.fdopen(fd, "wb") as raw:
            try:
                os.fchmod(raw.fileno(), file_mode())
            except OSError:  # a file system without permissions (FAT, some network shares)
                pass
            rec = _Recording(raw)
            rec.path = Path(tmp)
            yield rec
            rec.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        cause = rec.error if rec is not None and rec.error is not None else exc
        if isinstance(cause, OSError):
            raise write_error(cause, path, what) from exc
        raise
    _fsync_dir(path.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, what: str = "file") -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path, what=what) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, what: str = "file") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path.

    >>> import tempfile, pathlib
    >>> p = write_text(pathlib.Path(tempfile.mkdtemp()) / "sub" / "a.txt", "hi")
    >>> p.read_text()
    'hi'
    """
    return write_bytes(path, text.encode("utf-8"), what=what)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (a process of another user counts).

    >>> pid_alive(os.getpid())
    True
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True  # cannot tell: keep the file
    return True


def stale_temporaries(folder: str | os.PathLike[str], *,
                      stale_after_s: float = STALE_AFTER_S) -> list[Path]:
    """Temporary files of :func:`atomic_write` in ``folder`` (not recursive) that no live
    process is writing: their process is gone (this host), or, for another host's files and
    untagged ones of older versions, they have not changed for ``stale_after_s`` seconds."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    host, now, found = _host_tag(), time.time(), []
    for p in sorted(folder.iterdir()):
        m = _TAGGED.match(p.name)
        if m is None and not _UNTAGGED.match(p.name):
            continue
        try:
            if not p.is_file():
                continue
            old = now - p.stat().st_mtime > stale_after_s
        except OSError:
            continue
        if m is not None and m.group(2) == host:
            if not pid_alive(int(m.group(1))):
                found.append(p)
        elif old:
            found.append(p)
    return found


def remove_stale_temporaries(folder: str | os.PathLike[str], *,
                             stale_after_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete :func:`stale_temporaries` of ``folder``; returns the paths removed.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> dead = d / f".step_00000002.pt.abcd1234.999999999-{_host_tag()}.tmp"
    >>> live = d / f".step_00000004.pt.abcd1234.{os.getpid()}-{_host_tag()}.tmp"
    >>> _ = dead.write_bytes(b"x"), live.write_bytes(b"x")
    >>> [p.name == dead.name for p in remove_stale_temporaries(d)], live.exists()
    ([True], True)
    """
    removed = []
    for p in stale_temporaries(folder, stale_after_s=stale_after_s):
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


_UNSAFE_CHARS = re.compile(r"[^\w.+-]+")


def path_component(name: Any, *, limit: int = 120) -> str:
    """``name`` as one safe file-name component: characters other than letters, digits and
    ``._+-`` become ``_``, leading dots are dropped (no ``..``, no hidden files), never empty.

    >>> path_component("x/../../.."), path_component("mioir7"), path_component("..")
    ('x_.._.._..', 'mioir7', '_')
    >>> path_component("a b\\\\c:d"), path_component("")
    ('a_b_c_d', '_')

    A name longer than ``limit`` keeps its first characters and ends with 8 hex digits of a hash
    of the whole name, so two long names that share their first ``limit`` characters stay two
    files:

    >>> a, b = path_component("x" * 200), path_component("x" * 200 + "_ood")
    >>> len(a), a[:5], a != b
    (120, 'xxxxx', True)
    """
    text = _UNSAFE_CHARS.sub("_", str(name)).lstrip(".")
    if len(text) > limit:
        digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        text = text[:max(limit - 9, 0)] + "-" + digest
    return text or "_"
