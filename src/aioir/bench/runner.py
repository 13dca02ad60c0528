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

from aioir.bench.runs import is_finished

__all__ = ["CellJob", "RunReport", "run_cells", "available_cores", "auto_jobs"]

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


def _worker(worker: int, tasks: Any, events: Any, parent: int) -> None:
    """Train the cells the parent hands out until it sends ``None``."""
    from aioir.workers import die_with_parent

    die_with_parent(parent)
    from aioir.bench.runs import train_cell
    from aioir.config import from_dict
    from aioir.config.schema import RunConfig

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; SIGTERM stops a cell
    _quiet_console()
    while True:
        job = tasks.get()
        if job is None:
            return
        events.put(("start", worker, job.name))
        try:
            cfg = from_dict(RunConfig, job.config)
            result = train_cell(cfg, Path(job.run_dir),
                                on_step=lambda _s: events.put(("step", worker, job.name)))  # noqa: B023 - runs in this iteration
        except BaseException as exc:  # noqa: BLE001 - report, never hang the parent
            events.put(("error", worker, job.name, f"{type(exc).__name__}: {exc}"))
            if not isinstance(exc, Exception):
                return
            continue
        finally:
            _drop_file_handlers()
        events.put((result.status, worker, job.name))
        if result.status != "finished":
            return


def run_cells(jobs: list[CellJob], *, workers: int, progress: bool = True) -> RunReport:
    """Train ``jobs`` on ``workers`` processes; returns every cell's status."""
    from aioir.progress import progress as progress_bar

    report = RunReport(status={j.name: "not run" for j in jobs})
    if not jobs:
        return report
    pending = sorted(jobs, key=lambda j: -(j.steps - j.done_steps))
    workers = max(1, min(workers, len(pending)))
    total = sum(j.steps for j in jobs)
    bar = progress_bar(total=total, initial=sum(j.done_steps for j in jobs), desc="bench",
                       unit="step", disable=not progress)
    ctx = mp.get_context("spawn")
    tasks, events = ctx.Queue(), ctx.Queue()
    # not daemonic: a cell may start DataLoader worker processes of its own
    procs = {w: ctx.Process(target=_worker, args=(w, tasks, events, os.getpid()))
             for w in range(workers)}
    for p in procs.values():
        p.start()
    current: dict[int, str | None] = {w: None for w in procs}
    stopping = False

    def hand_out() -> None:
        tasks.put(pending.pop(0) if pending and not stopping else None)

    def handle(event: tuple[Any, ...]) -> None:
        kind, worker, name = event[:3]
        if kind == "step":
            bar.update(1)
            return
        if kind == "start":
            current[worker] = name
            report.status[name] = "running"
        else:
            current[worker] = None
            if kind != "finished" and _complete(name):
                kind = "finished"  # stopped after its final checkpoint and evaluation
            report.status[name] = kind if kind in ("finished", "interrupted") else "error"
            if kind == "error":
                report.errors[name] = event[3]
            if kind in ("finished", "error"):
                hand_out()  # the worker's next cell, or None (it exits) when none or stopping
        done = sum(s == "finished" for s in report.status.values())
        busy = sum(n is not None for n in current.values())
        bar.set_postfix_str(f"{done}/{len(jobs)} cells done, {busy} running", refresh=False)

    by_name = {j.name: j for j in jobs}

    def _complete(name: str) -> bool:
        """The cell's final checkpoint and evaluation are written (what a rerun skips)."""
        job = by_name[name]
        return is_finished(job.run_dir, job.steps)

    def reap_dead() -> None:
        for w, p in procs.items():
            name = current[w]
            if not p.is_alive() and name is not None:
                current[w] = None
                if _complete(name):
                    report.status[name] = "finished"
                elif report.interrupted:
                    report.status[name] = "interrupted"
                else:
                    report.status[name] = "error"
                    report.errors[name] = f"worker process died (exit code {p.exitcode})"

    from aioir.workers import signals_interrupt

    stop_request = signals_interrupt()
    stop_request.__enter__()
    try:
        for _ in range(workers):
            hand_out()
        try:
            while any(p.is_alive() for p in procs.values()):
                try:
                    handle(events.get(timeout=0.5))
                except queue_mod.Empty:
                    reap_dead()
        except KeyboardInterrupt as exc:
            stopping = True
            report.interrupted = True
            report.signal = int(getattr(exc, "signum", signal.SIGINT))
            _stop_workers(procs, events, handle)
        reap_dead()
        while True:  # events still in the pipe
            try:
                handle(events.get_nowait())
            except queue_mod.Empty:
                break
    finally:
        stop_request.__exit__(None, None, None)
        bar.close()
        for p in procs.values():
            if p.is_alive():
                p.kill()
            p.join(timeout=5)
    return report


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
