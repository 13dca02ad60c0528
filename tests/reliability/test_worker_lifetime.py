"""No process of a killed ``aioir bench`` or ``aioir demo`` outlives it: SIGKILL or SIGTERM the
parent while its workers train, and every process it started (workers, multiprocessing's
resource tracker) is gone within a few seconds; SIGTERM ends the command itself with 143, as
``aioir train``.

The processes of a command are found through ``/proc`` (each process's parent pid), collected
while the command runs: once its parent is killed they are re-parented to init."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aioir.config import dump_yaml
from aioir.config.schema import ValConfig

from .conftest import CHILD, child_env, reliability_config

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

#: how long a process of a killed command may outlive it
GRACE = 5.0


def _parents() -> dict[int, int]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            out[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _descendants(pid: int) -> set[int]:
    parents, found, todo = _parents(), set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parents.items() if pp == p}
        todo += list(kids - found)
        found |= kids
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":  # a zombie has ended; it waits for its (new) parent to reap it
            alive.add(pid)
    return alive


def _workers(pid: int) -> set[int]:
    """The multiprocessing workers among the processes ``pid`` started."""
    found = set()
    for child in _descendants(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
        except OSError:
            pass
    return found


def _wait_until(what: str, check, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the command ended ({proc.returncode}) before {what}:\n"
                                 f"{out}\n{err}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"never reached: {what}")
        time.sleep(0.1)


def _kill_and_check(proc: subprocess.Popen, sig: int, workers: int) -> set[int]:
    """Send ``sig`` to the parent; every process it started is gone within GRACE seconds."""
    family = _descendants(proc.pid)
    assert len(family) >= workers, family
    proc.send_signal(sig)
    deadline = time.monotonic() + (60.0 if sig == signal.SIGTERM else 0.0) + GRACE
    try:
        proc.wait(timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the command did not end after its signal") from None
    end = time.monotonic() + GRACE
    while _alive(family) and time.monotonic() < end:
        time.sleep(0.1)
    left = _alive(family)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)  # clean up before failing
    assert not left, f"processes of the killed command still run: {sorted(left)}"
    return family


def _start(argv: list[str], tmp_path: Path, mode: str | None = None, arg: str = ""):
    head = [sys.executable, str(CHILD), str(tmp_path / "ready"), mode, arg, "--"] if mode \
        else [sys.executable, "-m", "aioir"]
    return subprocess.Popen(head + argv, env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_bench_leaves_no_process(tmp_path, sig):
    """Two cells of 3000 steps: killed once both workers have started."""
    cfg = reliability_config(steps=3000)
    cfg.train.checkpoint_every = 500
    cfg.val = ValConfig(enabled=True, max_size=24, max_images=1)
    cfg_path = tmp_path / "cfg.yaml"
    dump_yaml(cfg, cfg_path)
    out = tmp_path / "bench"
    proc = _start(["bench", str(cfg_path), "--strategies", "mixed,art", "--seeds", "1",
                   "--jobs", "2", "--no-cache", "--out", str(out)], tmp_path)
    _wait_until("both workers run", lambda: len(_workers(proc.pid)) == 2, proc)
    _kill_and_check(proc, sig, workers=2)
    if sig == signal.SIGTERM:
        out_text, err = proc.communicate()
        assert proc.returncode == 143, err
        assert "interrupted" in out_text and "Traceback" not in err, err
    else:
        assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("sig", [signal.SIGTERM], ids=["SIGTERM"])  # SIGKILL: as the bench's
def test_a_killed_demo_leaves_no_process(tmp_path, sig):
    """The demo's three runs of 500 steps: killed once its three training workers have
    started (all three start at once)."""
    out = tmp_path / "demo"
    proc = _start(["demo", "--quick", "--out", str(out)], tmp_path, "tiny-demo", "500")
    cached = out / "quick" / "data-cache" / "steps_00000500-seed_0" / "complete.json"
    _wait_until("its three workers run",
                lambda: cached.is_file() and len(_workers(proc.pid)) == 3, proc)
    _kill_and_check(proc, sig, workers=3)
    _, err = proc.communicate()
    assert proc.returncode == (143 if sig == signal.SIGTERM else -signal.SIGKILL), err


def _holder_pid(run_dir: Path) -> int | None:
    """The pid in the run folder's lock record (the worker training it), if it is alive."""
    import json

    try:
        pid = int(json.loads((run_dir / ".aioir-run.lock").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if _alive({pid}) else None


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_demo_worker_ends_the_demo_naming_its_arm(tmp_path, sig):
    """One arm's worker is killed (SIGKILL: as the OOM killer does) or stopped (SIGTERM) while
    the three arms train 20000 steps each (minutes): the demo does not train on, or wait, for
    the others; it ends within a minute with a one-line error naming that arm and how it
    ended, and leaves no process behind. The worker is the process holding the arm's run
    folder lock (its pid is in the lock's record)."""
    out = tmp_path / "demo"
    proc = _start(["demo", "--quick", "--out", str(out)], tmp_path, "tiny-demo", "20000:uncached")
    arm = out / "quick" / "runs" / "steps_00020000" / "seed_0" / "tur"
    _wait_until("the tur arm trains", lambda: len(_workers(proc.pid)) == 3
                and _holder_pid(arm) in _workers(proc.pid), proc)
    family = _descendants(proc.pid)
    os.kill(_holder_pid(arm), sig)
    try:
        _, err = proc.communicate(timeout=60 + GRACE)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("the demo trained on after one of its workers was killed") from None
    end = time.monotonic() + GRACE
    while _alive(family) and time.monotonic() < end:
        time.sleep(0.1)
    left = _alive(family)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not left, f"processes of the demo still run: {sorted(left)}"
    assert proc.returncode == 2 and "Traceback" not in err, err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("aioir demo: error:")]
    # SIGTERM once training runs: the arm checkpoints and stops; before (its Trainer not yet
    # handling signals): the signal's default action ends it
    how = (["its worker process was killed by SIGKILL"] if sig == signal.SIGKILL
           else ["its worker was stopped by a signal", "its worker process was killed by SIGTERM"])
    assert any(f"tur: {h}" in line for h in how) and f"(run folder {arm})" in line, line
