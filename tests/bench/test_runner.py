"""A failing cell is reported with its run folder, and the bench does not hang or write tables."""

from __future__ import annotations

import pytest

from aioir.bench import run_bench
from aioir.bench.runner import auto_jobs, available_cores


def test_a_config_mistake_is_refused_before_any_cell_trains(tmp_path, tiny_spec):
    spec = tiny_spec(strategies=["mixed"], seeds=[0], steps=[2])
    spec.base["model"]["options"]["no_such_option"] = 1
    out = tmp_path / "b"
    with pytest.raises(ValueError, match=r"model.options: .*'no_such_option'"):
        run_bench(spec, out, jobs=1, progress=False)
    assert not list(out.glob("runs/**/checkpoints/*.pt"))


def test_a_failing_cell_is_reported_not_hung(tmp_path, tiny_spec):
    spec = tiny_spec(strategies=["mixed"], seeds=[0], steps=[3])
    spec.base["optim"]["lr"] = 1e30  # the weights overflow after the first step
    spec.base["train"]["max_nonfinite"] = 1
    out = tmp_path / "b"
    result = run_bench(spec, out, jobs=1, progress=False)
    assert result.status == "failed"
    (name, error), = result.errors.items()
    assert name == "mixed-seed0-steps3"
    assert "non-finite" in error and str(out / "runs/steps_00000003/seed_0/mixed") in error
    assert not (out / "results.md").exists()


def test_auto_jobs_fits_threads_into_the_cores():
    cores = available_cores()
    assert auto_jobs(threads=1, cells=100) == cores
    assert auto_jobs(threads=cores, cells=100) == 1
    assert auto_jobs(threads=1, cells=1) == 1
    assert auto_jobs(threads=2 * cores, cells=5) == 1


def test_sigterm_stops_the_bench_with_checkpoints_and_keeps_finished_cells(tmp_path, tiny_spec):
    """A real stop: one cell has finished, the other is training when the bench process gets
    SIGTERM; that one writes a checkpoint and the report says 'interrupted'."""
    import os
    import signal
    import threading
    import time

    from aioir.bench.runner import CellJob, run_cells
    from aioir.bench.spec import Cell, cell_config
    from aioir.config import to_dict

    spec = tiny_spec(strategies=["mixed"], seeds=[0], steps=[4])
    spec.base["model"]["options"]["width"] = 4
    spec.base["data"]["patch_size"] = 16
    spec.base["data"]["batch_size"] = 2
    spec.base["train"]["checkpoint_every"] = 1000
    spec.cache = False
    short = cell_config(spec, Cell("mixed", 0, 4), tmp_path)
    long = cell_config(spec, Cell("mixed", 0, 4), tmp_path)
    long.train.steps = 3000
    long_dir = tmp_path / "long"
    jobs = [CellJob("long", to_dict(long), str(long_dir), 3000),
            CellJob("short", to_dict(short), str(tmp_path / "short"), 4)]

    short_eval = tmp_path / "short" / "eval" / "step_00000004.json"

    def stop_when_short_is_done() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            short_eval.is_file() and (long_dir / "metrics.jsonl").is_file()
        ):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_short_is_done, daemon=True).start()
    previous = signal.getsignal(signal.SIGTERM)
    report = run_cells(jobs, workers=2, progress=False)
    assert report.interrupted
    assert report.status == {"long": "interrupted", "short": "finished"}
    (ckpt,) = (long_dir / "checkpoints").glob("step_*.pt")
    assert 1 <= int(ckpt.stem.split("_")[1]) < 3000  # stopped mid-way, with a checkpoint
    assert short_eval.is_file() and (tmp_path / "short/checkpoints/step_00000004.pt").is_file()
    assert signal.getsignal(signal.SIGTERM) is previous  # the bench's handler is removed


def test_one_bench_process_per_folder(tmp_path, tiny_spec):
    """A second bench on a folder another process holds is refused with a message naming the
    folder and the holder's pid (a pid the test knows from Popen); once that process is killed
    (SIGKILL: no chance to clean up), the folder is free again."""
    import os
    import signal
    import subprocess
    import sys

    import pytest

    from aioir.runlock import LOCK_NAME, RunFolderBusyError

    spec = tiny_spec()
    out = tmp_path / "b"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from aioir.runlock import acquire; "
         "acquire(sys.argv[1]); print('held', flush=True); time.sleep(600)", str(out)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(
            sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunFolderBusyError, match=rf"{out}.*pid {holder.pid}\b"):
            run_bench(spec, out, jobs=1, progress=False)
        assert not (out / "bench.json").exists()  # nothing written into the held folder
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert (out / LOCK_NAME).exists()  # the killed holder's stale lock file is still there
    result = run_bench(spec, out, jobs=1, progress=False)  # and does not stop the next bench
    assert result.status == "finished"
    assert not (out / LOCK_NAME).exists()  # released


def test_a_signal_while_the_workers_start_stops_them(tmp_path, tiny_spec, monkeypatch):
    """SIGTERM arriving between the first worker's start and the second's (a kill test's SIGTERM
    once both workers show in /proc met this): the run ends interrupted, the started worker is
    stopped, and no exception escapes (the command used to end through the CLI's generic
    'interrupted' with no resume message)."""
    import multiprocessing.context as mpc
    import os
    import signal

    from aioir.bench.runner import CellJob, run_cells
    from aioir.bench.spec import Cell, cell_config
    from aioir.config import to_dict

    spec = tiny_spec(strategies=["mixed", "art"], seeds=[0], steps=[1000])
    spec.cache = False
    jobs = [CellJob(c.name, to_dict(cell_config(spec, c, tmp_path)), str(tmp_path / c.run_dir),
                    1000) for c in (Cell("mixed", 0, 1000), Cell("art", 0, 1000))]
    start, started = mpc.SpawnProcess.start, []

    def start_then_signal(self):
        if started:  # the second worker: the signal comes first
            os.kill(os.getpid(), signal.SIGTERM)
        start(self)
        started.append(self)

    monkeypatch.setattr(mpc.SpawnProcess, "start", start_then_signal)
    report = run_cells(jobs, workers=2, progress=False)
    assert report.interrupted and report.signal == signal.SIGTERM
    assert len(started) == 1 and not started[0].is_alive()
