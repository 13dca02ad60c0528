"""The demo pipeline end to end at a tiny budget: table, report, and the degraded-input row
checked against scikit-image's PSNR computed independently on the same test pairs."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from aioir import demo
from aioir.config.schema import MIOIR_TASKS
from aioir.data.sources import EmbeddedPhotos
from aioir.data.synthetic import FixedTestSet


def _u8(x):
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def test_tiny_demo_end_to_end(tmp_path, monkeypatch):
    tiny = demo.DemoBudget(steps=3, patch_size=24, batch_size=7, lr=1e-3, width=8, val_max_size=48)
    monkeypatch.setitem(demo.BUDGETS, "quick", tiny)
    res = demo.run_demo(tmp_path, quick=True, strategies=("mixed", "art"), jobs=2, progress=False)

    report = (tmp_path / "quick" / "report.md").read_text()
    import re

    for row in ("degraded input", "mixed", "art", "art vs mixed \\(dB\\)"):
        assert re.search(rf"^\| {row} +\|", report, re.M), row
    assert "4-px border crop" in res["protocol"]
    for s in ("mixed", "art"):
        assert (tmp_path / "quick" / s / "checkpoints").is_dir()

    # degraded-input row: PSNR with a 4-px crop on uint8, computed here with scikit-image
    test = FixedTestSet(EmbeddedPhotos("test"), list(MIOIR_TASKS), seed=1234, max_size=48)
    for task in MIOIR_TASKS:
        vals = [
            peak_signal_noise_ratio(_u8(s.gt)[4:-4, 4:-4], _u8(s.lq)[4:-4, 4:-4], data_range=255)
            for s in test if s.task == task
        ]
        got = res["rows"]["degraded input"]["per_task"][task]["psnr"]
        assert got == pytest.approx(float(np.mean(vals)), abs=1e-6), task

    # the verdict counts the tasks where the strategy beats the input, recomputed here
    for s in ("mixed", "art"):
        rows = res["rows"]
        better = sum(rows[s]["per_task"][t]["psnr"] > rows["degraded input"]["per_task"][t]["psnr"]
                     for t in MIOIR_TASKS)
        assert res["verdict"][s]["n_tasks_beating_input"] == better

    # the grid and plots next to the table (no uncertainty figures: neither strategy has a head)
    figures = res["report"]
    assert figures.out == tmp_path / "quick" / "report" and figures.html.is_file()
    assert {"restorations", "restoration_crops", "train_task_weight", "train_task_loss",
            "learning_rate", "validation_psnr"} <= {f.id for f in figures.drawn}
    assert {f.id for f in figures.skipped} == {"uncertainty_maps", "uncertainty_histograms"}
