"""Training curves read back from metrics.jsonl, checked against the raw JSON lines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aioir.report.curves import (
    Series,
    mean_over_runs,
    moving_average,
    per_task_keys,
    per_task_series,
    scalar_series,
    validation_series,
)

TASKS = ["noise", "dark", "jpeg"]


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_series_are_the_logged_values(bench_dir):
    records = _records(bench_dir / "tur" / "seed0")
    train = [r for r in records if "val" not in r]
    assert scalar_series(records, "lr").values == [r["lr"] for r in train]
    weights = per_task_series(records, "task_weight", TASKS)
    for task, series in weights.items():
        logged = [(r["step"], r["task_weight"][task]) for r in train if task in r["task_weight"]]
        assert list(zip(series.steps, series.values)) == logged
    assert per_task_keys(records, TASKS) == ["task_loss", "task_weight", "uncertainty"]
    val = validation_series(records, TASKS)
    logged = [(r["step"], r["val_avg"]["psnr"]) for r in records if "val_avg" in r]
    assert list(zip(val["Average"].steps, val["Average"].values)) == logged
    assert [s for s, _ in logged] == [2, 4]  # val.every 2, and at the end


def test_mean_over_runs_keeps_shared_steps():
    a, b, c = Series([1, 2, 3], [1.0, 2.0, 3.0]), Series([2, 3], [4.0, 8.0]), Series([3], [5.0])
    steps, mean, std = mean_over_runs([a, b, c])
    assert steps.tolist() == [3]
    assert mean.tolist() == pytest.approx([np.mean([3.0, 8.0, 5.0])])
    assert std.tolist() == pytest.approx([np.std([3.0, 8.0, 5.0], ddof=1)])
    steps, mean, std = mean_over_runs([a])
    assert steps.tolist() == [1, 2, 3] and std.tolist() == [0.0, 0.0, 0.0]


def test_moving_average_matches_a_loop():
    x = np.random.default_rng(0).random(17)
    expected = [x[max(0, i - 4): i + 1].mean() for i in range(len(x))]
    assert moving_average(x, 5) == pytest.approx(expected)
