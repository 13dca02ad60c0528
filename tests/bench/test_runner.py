"""A failing cell is reported with its run folder, and the bench does not hang or write tables."""

from __future__ import annotations

from aioir.bench import run_bench
from aioir.bench.runner import auto_jobs, available_cores



def test_a_failing_cell_is_reported_not_hung(tmp_path, tiny_spec):
    spec = tiny_spec(strategies=["mixed"], seeds=[0], steps=[2])
    spec.base["model"]["options"]["no_such_option"] = 1
    out = tmp_path / "b"
    result = run_bench(spec, out, jobs=1, progress=False)
    assert result.status == "failed"
    (name, error), = result.errors.items()
    assert name == "mixed-seed0-steps2"
    assert "no_such_option" in error and str(out / "runs/steps_00000002/seed_0/mixed") in error
    assert not (out / "results.md").exists()


def test_auto_jobs_fits_threads_into_the_cores():
    cores = available_cores()
    assert auto_jobs(threads=1, cells=100) == cores
    assert auto_jobs(threads=cores, cells=100) == 1
    assert auto_jobs(threads=1, cells=1) == 1
    assert auto_jobs(threads=2 * cores, cells=5) == 1
