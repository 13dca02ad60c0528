"""Tiny finished runs to report on: two strategies (mixed, tur) x two seeds, laid out like the
output of ``aioir bench`` (one folder per cell), trained once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # report_runs: the runs' config, shared

from report_runs import tiny_run_config


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory) -> Path:
    """``<root>/<strategy>/seed<k>``: mixed and tur, seeds 0 and 1."""
    from aioir.engine.run import train

    root = tmp_path_factory.mktemp("bench")
    for strategy in ("mixed", "tur"):
        for seed in (0, 1):
            train(tiny_run_config(strategy, seed), root / strategy / f"seed{seed}")
    return root
