"""CSV/JSON writers and the evaluation bundle read back independently."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from aioir.report import write_csv, write_json, write_results


def test_csv_round_trip(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sub" / "t.csv", ["task", "psnr"], [["rain, heavy", 30.25], ["noise", 1e-5]])
    with path.open(newline="") as fh:
        assert list(csv.reader(fh)) == [["task", "psnr"], ["rain, heavy", "30.25"], ["noise", "1e-05"]]


def test_json_converts_scalars_and_paths(tmp_path: Path) -> None:
    data = {"a": np.float32(1.5), "p": Path("/x/y"), "t": (1, 2), "inf": math.inf}
    loaded = json.loads(write_json(tmp_path / "r.json", data).read_text())
    assert loaded == {"a": 1.5, "p": "/x/y", "t": [1, 2], "inf": math.inf}


def test_write_results_summary_bundle(tmp_path: Path) -> None:
    summary = {
        "per_task": {"noise": {"psnr": 30.0, "ssim": 0.8, "count": 2}, "rain": {"psnr": 32.0, "ssim": 0.9, "count": 1}},
        "average": {"psnr": 31.0, "ssim": 0.85, "count": 2},
    }
    paths = write_results(summary, tmp_path, stem="eval_x")
    assert [p.name for p in paths] == ["eval_x.json", "eval_x.csv"]
    assert json.loads(paths[0].read_text()) == summary
    assert paths[1].read_text().splitlines() == [
        "task,count,psnr,ssim",
        "noise,2,30.0,0.8",
        "rain,1,32.0,0.9",
        "average,2,31.0,0.85",
    ]
    # anything else: JSON only
    assert [p.name for p in write_results({"rows": {}}, tmp_path, stem="demo")] == ["demo.json"]
