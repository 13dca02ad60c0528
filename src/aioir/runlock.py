"""One process at a time in a run folder: a lock file that a killed process cannot leave stuck.

``aioir train`` (and every :class:`aioir.engine.trainer.Trainer` that writes) holds
``<run folder>/.aioir-run.lock`` while it works. The lock is an advisory ``flock`` on that file,
which the kernel releases when the holder exits in any way (SIGKILL included), so a lock left by
a dead process is simply free again: nothing to clean up by hand, and no pid guessing. The file
records who holds it (pid, host, start time, command line) for the message a second process
gets; the holder deletes it when it releases the lock. Where ``fcntl`` does not exist
(Windows), the file is created exclusively instead, and one whose process is gone (same host) is
taken over.

Locks are re-entrant within a process (``aioir train`` holds the folder while it writes the
run's config, and the Trainer takes it again while it trains).

>>> import tempfile, pathlib
>>> run = pathlib.Path(tempfile.mkdtemp()) / "run"
>>> with run_folder_lock(run):
...     (run / LOCK_NAME).exists(), holder(run)["pid"] == os.getpid()
(True, True)
>>> (run / LOCK_NAME).exists()
False
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aioir.errors import UserError
from aioir.files import pid_alive, write_error

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunFolderBusyError", "run_folder_lock", "acquire", "release", "holder",
           "check_free"]

LOCK_NAME = ".aioir-run.lock"
#: how long to wait when the recorded holder has exited but the lock is still held (its
#: data-loader workers, forked with the lock, take a few seconds to notice and exit)
ORPHAN_WAIT_S = 15.0

_held: dict[Path, list[Any]] = {}  # resolved run folder -> [fd, count, created the folder]


class RunFolderBusyError(UserError):
    """Another process holds the run folder; the message names it."""


def holder(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Who holds (or last held) the run folder's lock: ``pid``, ``host``, ``started``,
    ``command``; ``None`` when there is no readable record."""
    try:
        data = json.loads((Path(run_dir) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _record() -> bytes:
    return json.dumps({
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv)[:500],
    }).encode("utf-8")


def _holder_gone(info: dict[str, Any] | None) -> bool:
    if not info:
        return False
    return info.get("host") == socket.gethostname() and not pid_alive(int(info.get("pid", 0) or 0))


def _busy(run_dir: Path, info: dict[str, Any] | None) -> RunFolderBusyError:
    if not info:
        who = f"another process (it holds {run_dir / LOCK_NAME})"
    else:
        who = (f"another aioir process (pid {info.get('pid')} on {info.get('host')}, started "
               f"{info.get('started')}: {info.get('command')})")
        if _holder_gone(info):
            who += ("; that process has ended but a child of it (e.g. a data-loader worker) "
                    "still holds the lock: try again in a few seconds")
    return RunFolderBusyError(f"run folder {run_dir} is in use by {who}; wait for it to finish "
                              "or stop it, or choose another --out")


def _try_flock(path: Path) -> int | None:
    """An fd holding the lock on the file now at ``path``, or None if another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:  # the holder we waited for may have deleted the file: lock the current one
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _try_exclusive(path: Path) -> int | None:  # pragma: no cover - Windows
    while True:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            if not _holder_gone(holder(path.parent)):
                return None
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def acquire(run_dir: str | os.PathLike[str], *, orphan_wait_s: float = ORPHAN_WAIT_S) -> None:
    """Hold ``run_dir`` (created if needed) or raise :class:`RunFolderBusyError` naming the
    holder. Re-entrant within a process; pair every call with :func:`release`."""
    run_dir = Path(run_dir)
    key = run_dir.resolve()
    if key in _held:
        _held[key][1] += 1
        return
    path = run_dir / LOCK_NAME
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, run_dir, "run folder") from exc
    try:
        deadline = time.monotonic() + orphan_wait_s
        while True:
            fd = _try_flock(path) if fcntl is not None else _try_exclusive(path)
            if fd is not None:
                break
            info = holder(run_dir)
            if not (_holder_gone(info) and time.monotonic() < deadline):
                raise _busy(run_dir, info)
            time.sleep(0.2)
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, _record())
        except OSError:
            pass  # the record is only for messages; the lock itself is held
    except OSError as exc:
        raise write_error(exc, path, "run folder lock") from exc
    _held[key] = [fd, 1, created]


def release(run_dir: str | os.PathLike[str]) -> None:
    """Release one :func:`acquire` of ``run_dir``; the last one deletes the lock file (and
    the folder, if the lock created it and it is still empty)."""
    run_dir = Path(run_dir)
    key = run_dir.resolve()
    entry = _held.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] > 0:
        return
    del _held[key]
    try:
        os.unlink(run_dir / LOCK_NAME)  # while still holding it: nobody locks a deleted file
    except OSError:
        pass
    os.close(entry[0])
    if entry[2]:  # a folder this lock created and nothing filled (a refused run): remove it
        try:
            run_dir.rmdir()
        except OSError:
            pass


def check_free(run_dir: str | os.PathLike[str]) -> None:
    """Raise :class:`RunFolderBusyError` if another process holds ``run_dir`` now; creates and
    changes nothing (a cheap early check; only :func:`acquire` makes sure)."""
    run_dir = Path(run_dir)
    path = run_dir / LOCK_NAME
    if run_dir.resolve() in _held or fcntl is None or not path.is_file():
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _busy(run_dir, holder(run_dir)) from None
    except OSError:
        return
    finally:
        os.close(fd)


@contextmanager
def run_folder_lock(run_dir: str | os.PathLike[str], *, enabled: bool = True) -> Iterator[None]:
    """Hold ``run_dir`` for the ``with`` block (``enabled=False``: do nothing, e.g. on the
    ranks of a distributed run other than rank 0)."""
    if not enabled:
        yield
        return
    acquire(run_dir)
    try:
        yield
    finally:
        release(run_dir)
