"""aioir.runlock: one process per run folder; a killed holder frees it; re-entrant in a process;
the lock file and a folder the lock created are gone after the release."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import aioir
from aioir import runlock

pytestmark = pytest.mark.skipif(runlock.fcntl is None, reason="POSIX flock only")

HOLD = """
import os, sys, time
from aioir import runlock
runlock.acquire(sys.argv[1])
if len(sys.argv) > 2:  # leave the lock to a forked child and die
    child = os.fork()
    if child == 0:
        time.sleep(60)
        os._exit(0)
    print("ready", child, flush=True)
    os._exit(0)
print("ready", flush=True)
time.sleep(60)
"""


def _holder(run: Path, *extra: str) -> subprocess.Popen:
    src = str(Path(aioir.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run), *extra], env=env,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line[0] == "ready"
    proc.forked = int(line[1]) if len(line) > 1 else None
    return proc


def test_a_second_process_is_refused_until_the_holder_is_killed(tmp_path):
    run = tmp_path / "run"
    proc = _holder(run)
    try:
        with pytest.raises(runlock.RunFolderBusyError) as info:
            runlock.acquire(run)
        assert f"run folder {run} is in use by another aioir process (pid {proc.pid} on " in \
            str(info.value)
        with pytest.raises(runlock.RunFolderBusyError):
            runlock.check_free(run)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (run / runlock.LOCK_NAME).exists()  # a killed holder leaves its file ...
    runlock.check_free(run)  # ... but not its lock
    with runlock.run_folder_lock(run):
        assert runlock.holder(run)["pid"] == os.getpid()
    assert list(run.iterdir()) == []


def test_a_dead_holders_forked_child_still_holds_it(tmp_path):
    """The holder died but a child it forked (a data-loader worker) inherited the lock: the
    message says so, after a short wait for the child to exit."""
    run = tmp_path / "run"
    proc = _holder(run, "fork")
    proc.wait()
    start = time.monotonic()
    try:
        with pytest.raises(runlock.RunFolderBusyError, match=r"that process has ended but a child "
                                                             "of it .* still holds the lock"):
            runlock.acquire(run, orphan_wait_s=0.5)
        assert time.monotonic() - start >= 0.5
    finally:
        os.kill(proc.forked, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the kernel frees the lock once the child is gone
        try:
            runlock.acquire(run, orphan_wait_s=0)
            break
        except runlock.RunFolderBusyError:
            time.sleep(0.05)
    else:
        pytest.fail("the lock stayed held after its last holder was killed")
    runlock.release(run)


def test_reentrant_in_one_process_and_cleaned_up(tmp_path):
    run = tmp_path / "a" / "run"
    runlock.acquire(run)
    runlock.acquire(run)
    runlock.release(run)
    assert (run / runlock.LOCK_NAME).exists()
    runlock.check_free(run)  # held by this process: free for it
    runlock.release(run)
    assert not run.exists() and (tmp_path / "a").exists()  # only the folder it created goes
    keep = tmp_path / "keep"
    keep.mkdir()
    with runlock.run_folder_lock(keep):
        (keep / "metrics.jsonl").write_text("{}\n")
    assert sorted(p.name for p in keep.iterdir()) == ["metrics.jsonl"]
