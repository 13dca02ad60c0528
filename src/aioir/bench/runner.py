"""Train the cells of a bench in parallel worker processes with one progress display.

``jobs`` worker processes (spawned, so each has its own torch threads and signal handlers) take
cells one at a time from the parent, train them through :func:`aioir.bench.runs.train_cell`
(continuing a cell's checkpoint if it has one) and report every step back, so the parent shows
one progress display for all cells. Longest cells start first (the shortest finish the queue).

A cell that fails is reported with its run folder and the others go on. On Ctrl-C, SIGTERM or
SIGHUP the parent asks every worker to stop: each finishes its step, writes a checkpoint and
exits, so the same command resumes the bench. Workers die with the parent whatever kills it, and
a worker that dies without a word (SIGKILL, the OOM killer) is reported, not waited for
(:mod:`aioir.workers`).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aioir.bench.runs import is_finished, train_cell
from aioir.config import from_dict
from aioir.config.schema import RunConfig
from aioir.progress import progress as progress_bar
from aioir.workers import die_with_parent, signals_interrupt

__all__ = ["CellJob", "CellDisplay", "RunReport", "run_cells", "available_cores", "auto_jobs"]

#: seconds the parent waits for workers to checkpoint and exit after an interruption
STOP_TIMEOUT = 300.0


@dataclass(frozen=True)
class CellJob:
    """A cell to train: its name, its run config (plain dict), its run folder and budget."""

    name: str
    config: dict[str, Any]
    run_dir: str
    steps: int
    done_steps: int = 0


@dataclass
class RunReport:
    """What happened to each cell: ``finished``, ``interrupted``, ``error`` or ``not run``."""

    status: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: per finished cell: ``validation`` (its final evaluation), ``seconds`` and ``checkpoint``
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    interrupted: bool = False
    #: the signal that interrupted the bench (SIGINT for Ctrl-C)
    signal: int = int(signal.SIGINT)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(s == "finished" for s in self.status.values())


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def auto_jobs(threads: int, cells: int) -> int:
    """As many cells at once as the cores allow at ``threads`` threads each (>= 1, <= cells).

    >>> auto_jobs(threads=1, cells=1)
    1
    """
    return max(1, min(available_cores() // max(threads, 1), max(cells, 1)))


def _quiet_console() -> None:
    """Workers log warnings to the console (their INFO goes to each run's train.log only)."""
    logger = logging.getLogger("aioir")
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)


def _drop_file_handlers() -> None:
    logger = logging.getLogger("aioir")
    for h in list(logger.handlers):
        if isinstance(h, logging.FileHandler):
            logger.removeHandler(h)
            h.close()


class CellDisplay:
    """What :func:`run_cells` shows while cells train: override what you show.

    The default is the bench's: one bar of every cell's steps, with the cells done and running.
    """

    def __init__(self, jobs: list[CellJob], shown: bool = True) -> None:
        self.total, self.finished, self.running = len(jobs), 0, 0
        self.bar: Any = progress_bar(total=sum(j.steps for j in jobs),
                                     initial=sum(j.done_steps for j in jobs), desc="bench",
                                     unit="step", disable=not shown)

    def started(self, name: str) -> None:
        """A worker took cell ``name``."""
        self.running += 1
        self._postfix()

    def stepped(self, name: str) -> None:
        """Cell ``name`` made one optimizer step."""
        self.bar.update(1)

    def evaluated(self, name: str, n: int) -> None:
        """Cell ``name`` evaluated ``n`` more test images."""

    def ended(self, name: str, status: str) -> None:
        """Cell ``name`` ended (``finished``, ``interrupted`` or ``error``)."""
        self.running -= 1
        self.finished += status == "finished"
        self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"{self.finished}/{self.total} cells done, {self.running} running",
                                 refresh=False)

    def close(self) -> None:
        self.bar.close()


def _worker(worker: int, tasks: Any, events: Any, parent: int) -> None:
    """Train the cells the parent hands out until it sends ``None``."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; SIGTERM stops a cell
    _quiet_console()
    while True:
        job = tasks.get()
        if job is None:
            return
        events.put(("start", worker, job.name))

        def evaluated(n: int, name: str = job.name) -> None:
            events.put(("eval", worker, name, n))

        try:
            cfg = from_dict(RunConfig, job.config)
            result = train_cell(cfg, Path(job.run_dir),
                                on_step=lambda _s: events.put(("step", worker, job.name)),  # noqa: B023 - runs in this iteration
                                on_eval=evaluated)
            payload = None
            if result.status == "finished":
                payload = {"validation": result.validation, "seconds": result.seconds,
                           "checkpoint": str(result.checkpoint) if result.checkpoint else None}
        except BaseException as exc:  # noqa: BLE001 - report, never hang the parent
            events.put(("error", worker, job.name, f"{type(exc).__name__}: {exc}"))
            if not isinstance(exc, Exception):
                return
            continue
        finally:
            _drop_file_handlers()
        events.put((result.status, worker, job.name, payload))
        if result.status != "finished":
            return


def _death(exitcode: int | None) -> str:
    """Why a worker ended without a word, for the message naming its cell."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = " (out of memory? the OOM killer sends SIGKILL)" if -exitcode == signal.SIGKILL \
            else ""
        return f"its worker process was killed by {name}{why}"
    return f"its worker process died (exit code {exitcode})"


def run_cells(jobs: list[CellJob], *, workers: int, progress: bool = True,
              display: CellDisplay | None = None, fail_fast: bool = False) -> RunReport:
    """Train ``jobs`` on ``workers`` processes; returns every cell's status.

    A worker that dies without a word (SIGKILL, the OOM killer) is noticed within a second and
    its cell reported as an error naming how it died. ``fail_fast``: the first cell that fails
    stops the others (each checkpoints, as on Ctrl-C) instead of letting them go on.
    SIGTERM / SIGHUP / Ctrl-C in the parent stop every worker (``RunReport.interrupted``);
    whatever kills the parent kills its workers (:func:`aioir.workers.die_with_parent`).
    """
    report = RunReport(status={j.name: "not run" for j in jobs})
    if not jobs:
        return report
    pending = sorted(jobs, key=lambda j: -(j.steps - j.done_steps))
    workers = max(1, min(workers, len(pending)))
    show = display if display is not None else CellDisplay(jobs, shown=progress)
    ctx = mp.get_context("spawn")
    tasks, events = ctx.Queue(), ctx.Queue()
    # not daemonic: a cell may start DataLoader worker processes of its own
    procs = {w: ctx.Process(target=_worker, args=(w, tasks, events, os.getpid()))
             for w in range(workers)}
    current: dict[int, str | None] = dict.fromkeys(procs)
    by_name = {j.name: j for j in jobs}
    failed: list[str] = []  # the cells that failed (the bench was not interrupted)

    def hand_out() -> None:
        go = pending and not report.interrupted and not (fail_fast and failed)
        tasks.put(pending.pop(0) if go else None)

    def end(name: str, status: str, error: str | None = None) -> None:
        if status != "finished" and _complete(name):
            status = "finished"  # stopped after its final checkpoint and evaluation
        report.status[name] = status
        if status == "interrupted" and not report.interrupted:
            error = (f"stopped because cell {failed[0]} failed" if fail_fast and failed else
                     "its worker was stopped by a signal before the cell finished")
        if status != "finished":
            if error is not None:
                report.errors[name] = error
            if not report.interrupted:
                failed.append(name)
        show.ended(name, status)

    def handle(event: tuple[Any, ...]) -> None:
        kind, worker, name = event[:3]
        if kind == "step":
            show.stepped(name)
            return
        if kind == "eval":
            show.evaluated(name, event[3])
            return
        if kind == "start":
            current[worker] = name
            report.status[name] = "running"
            show.started(name)
            return
        current[worker] = None
        status = kind if kind in ("finished", "interrupted") else "error"
        if kind == "finished" and event[3] is not None:
            report.results[name] = event[3]
        end(name, status, event[3] if kind == "error" else None)
        if status in ("finished", "error"):
            hand_out()  # the worker's next cell, or None (it exits) when none or stopping

    def _complete(name: str) -> bool:
        """The cell's final checkpoint and evaluation are written (what a rerun skips)."""
        job = by_name[name]
        return is_finished(job.run_dir, job.steps)

    def reap_dead() -> None:
        for w, p in procs.items():
            name = current[w]
            if not p.is_alive() and name is not None:
                while True:  # its last words may still be in the pipe
                    try:
                        handle(events.get_nowait())
                    except queue_mod.Empty:
                        break
                if current[w] is None:
                    continue
                current[w] = None
                if report.interrupted:
                    end(name, "interrupted")
                else:
                    end(name, "error", _death(p.exitcode))

    stop_request = signals_interrupt()
    stop_request.__enter__()
    try:
        try:  # a signal while the workers start stops the ones started, as any other
            for p in procs.values():
                p.start()
            for _ in range(workers):
                hand_out()
            checked = time.monotonic()
            while any(p.is_alive() for p in procs.values()):
                try:
                    handle(events.get(timeout=0.5))
                except queue_mod.Empty:
                    pass
                if time.monotonic() - checked >= 0.5:  # events may never pause: check anyway
                    checked = time.monotonic()
                    reap_dead()
                if fail_fast and failed:
                    raise _Stop
        except _Stop:
            _stop_workers(procs, events, handle)
        except KeyboardInterrupt as exc:
            report.interrupted = True
            report.signal = int(getattr(exc, "signum", signal.SIGINT))
            _stop_workers(procs, events, handle)
        reap_dead()
        while True:  # events still in the pipe
            try:
                handle(events.get_nowait())
            except queue_mod.Empty:
                break
        for name, status in report.status.items():
            if status == "running":  # its worker ended before it could say so
                report.status[name] = "interrupted" if report.interrupted else "error"
    finally:
        stop_request.__exit__(None, None, None)
        show.close()
        for p in procs.values():
            if p.pid is None:  # never started
                continue
            if p.is_alive():
                p.kill()
            p.join(timeout=5)
    return report


class _Stop(Exception):
    """A cell failed and ``fail_fast`` stops the others."""


def _stop_workers(procs: dict[int, Any], events: Any, handle: Any) -> None:
    """SIGTERM every worker (a training cell checkpoints and exits) and drain their events."""
    for p in procs.values():
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(p.is_alive() for p in procs.values()) and time.monotonic() < deadline:
        try:
            handle(events.get(timeout=0.5))
        except queue_mod.Empty:
            pass
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            break
