"""Worker processes that never outlive the command that started them.

``aioir bench``, ``aioir demo`` and the data cache train or synthesise in spawned worker
processes. Whatever ends the parent -- Ctrl-C, SIGTERM from ``timeout`` or a scheduler, SIGKILL,
the OOM killer -- its workers must end too, and a worker that dies must not leave the parent
waiting for it:

* :func:`die_with_parent` runs first in every worker (a ``Process`` target's first call or a
  ``Pool`` initializer): on Linux the kernel sends the worker SIGKILL when its parent exits
  (``prctl(PR_SET_PDEATHSIG)``); a daemon thread that checks the parent's pid twice a second
  is the fallback elsewhere (and covers a parent that died before the ``prctl``).
* :func:`signals_interrupt` turns SIGTERM (and SIGHUP) in the parent into
  :class:`Interrupted`, a ``KeyboardInterrupt`` that remembers its signal: the parent stops its
  workers the way Ctrl-C does, and the command exits with ``128 + signal`` (143 for SIGTERM).
* :func:`stop_processes` asks workers to stop (SIGTERM: a training worker finishes its step and
  writes a checkpoint), waits a bounded time, then kills what is left.

Parents poll their result queues with a timeout and check :func:`multiprocessing.Process.is_alive`,
so a worker killed without a word (SIGKILL, OOM) is reported, never waited for.

>>> import os
>>> die_with_parent(os.getppid())  # in a worker; harmless anywhere
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Interrupted", "die_with_parent", "signals_interrupt", "stop_processes"]

_PR_SET_PDEATHSIG = 1
#: seconds between two checks of the parent's pid in the fallback watchdog
WATCH_INTERVAL = 0.5


class Interrupted(KeyboardInterrupt):
    """A stop request by signal ``signum`` (SIGINT arrives as a plain ``KeyboardInterrupt``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _set_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent_pid: int) -> None:
    """End this process (SIGKILL) as soon as ``parent_pid`` is no longer its parent.

    Call it first thing in a worker, with the parent's pid passed from the parent (the pid the
    worker sees at start may already be init's if the parent died meanwhile)."""
    _set_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the prctl
        os.kill(os.getpid(), signal.SIGKILL)

    def watch() -> None:
        while True:
            time.sleep(WATCH_INTERVAL)
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="aioir-parent-watchdog", daemon=True).start()


@contextmanager
def signals_interrupt(signals: Iterable[int] = (signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    """Within the block, ``signals`` raise :class:`Interrupted` in the main thread (outside the
    main thread nothing changes); the previous handlers come back after it."""

    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(signum)

    previous = {}
    for sig in signals:
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread, or not on this platform
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stop_processes(procs: Iterable[Any], timeout: float) -> None:
    """SIGTERM every live process of ``procs``, wait up to ``timeout`` s for them, kill the
    rest and reap them all."""
    procs = list(procs)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(deadline - time.monotonic(), 0))
    for p in procs:
        if p.is_alive():
            p.kill()
        p.join(5)
