"""benchmarks/gpu/run.sh in its dry mode (``--device cpu --tiny``): the whole script runs end
to end on a CPU, writes its files into the output folder (at most 8, no sub-folders: what the
GPU machine's tool brings back), and the CUDA tests are collected and skipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1000)  # about 30 s of CPU; wall time grows with the machine's load
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                    reason="needs bash and coreutils' timeout")
def test_gpu_script_dry_run_on_cpu(tmp_path):
    out = tmp_path / "gpu-out"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHON=sys.executable)
    res = subprocess.run(["bash", str(ROOT / "benchmarks/gpu/run.sh"), "--device", "cpu",
                          "--tiny", "--budget", "900", "--out", str(out)], capture_output=True,
                         text=True, env=env, timeout=950)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["cuda-tests.xml", "data_workers.json", "engine_vs_bare.json", "run.log",
                     "status.txt", "strategies.json", "summary.md"]
    assert all(p.is_file() for p in out.iterdir())
    status = (out / "status.txt").read_text().split("\n")
    assert [s for s in status if s] == ["cuda-tests: exit 0", "engine-vs-bare: exit 0",
                                        "data-workers: exit 0", "strategies: exit 0"]
    junit = (out / "cuda-tests.xml").read_text()
    assert 'skipped="' in junit and "needs a CUDA GPU" in junit
    engine = json.loads((out / "engine_vs_bare.json").read_text())
    assert [r["model"] for r in engine] == ["promptir", "nafnet"]
    for r in engine:
        assert r["engine_steps_per_s"] > 0 and r["bare_steps_per_s"] > 0
        assert r["engine_over_bare_time"] == pytest.approx(
            r["bare_steps_per_s"] / r["engine_steps_per_s"])
    workers = json.loads((out / "data_workers.json").read_text())
    assert [r["workers"] for r in workers] == [0, 2] and all(r["samples_per_s"] > 0
                                                             for r in workers)
    runs = json.loads((out / "strategies.json").read_text())
    assert [r["strategy"] for r in runs] == ["mixed", "tur", "art"]
    assert all(r["steps"] == 3 and r["average"]["count"] == 7 for r in runs)
    assert "| promptir |" in (out / "summary.md").read_text()


def test_unknown_option_is_one_line(tmp_path):
    res = subprocess.run(["bash", str(ROOT / "benchmarks/gpu/run.sh"), "--gpu"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "unknown option --gpu" in res.stderr
