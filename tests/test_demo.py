"""The demo pipeline end to end at a tiny budget: table, report, and the degraded-input row
checked against scikit-image's PSNR computed independently on the same test pairs."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from aioir import demo
from aioir.config.schema import MIOIR_TASKS
from aioir.data.sources import EmbeddedPhotos
from aioir.data.testsets import SyntheticTestSet


def _u8(x):
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def test_tiny_demo_end_to_end(tmp_path, monkeypatch):
    tiny = demo.DemoBudget(steps=3, patch_size=24, batch_size=7, lr=1e-3, width=8, val_max_size=48,
                           whole_max_size=40)
    monkeypatch.setitem(demo.BUDGETS, "quick", tiny)
    res = demo.run_demo(tmp_path, quick=True, strategies=("mixed", "art"), jobs=2, progress=False)

    report = (tmp_path / "quick" / "report.md").read_text()
    import re

    for row in ("degraded input", "mixed", "art", "art vs mixed \\(dB\\)"):
        assert re.search(rf"^\| {row} +\|", report, re.M), row
    assert "4-px border crop" in res["protocol"]
    for s in ("mixed", "art"):  # a bench folder: the demo is `aioir bench demo:quick`
        assert (tmp_path / "quick" / "runs" / "steps_00000003" / "seed_0" / s /
                "checkpoints").is_dir()
    assert res["run_dirs"]["art"] == tmp_path / "quick" / "runs" / "steps_00000003" / "seed_0" / "art"
    assert "| art - mixed" in (tmp_path / "quick" / "results.md").read_text()

    # degraded-input row: PSNR with a 4-px crop on uint8, computed here with scikit-image
    for t, task in enumerate(MIOIR_TASKS):
        test = SyntheticTestSet(EmbeddedPhotos("test"), task, seed=1234, key="index", task_index=t,
                                max_size=48, multiple=8)
        vals = [
            peak_signal_noise_ratio(_u8(gt)[4:-4, 4:-4], _u8(lq)[4:-4, 4:-4], data_range=255)
            for lq, gt, _, _ in test
        ]
        got = res["rows"]["degraded input"]["per_task"][task]["psnr"]
        assert got == pytest.approx(float(np.mean(vals)), abs=1e-6), task

    # the whole-photograph row likewise (degraded whole, seed WHOLE_SEED, here cut to 40 px)
    for t, task in enumerate(MIOIR_TASKS):
        test = SyntheticTestSet(EmbeddedPhotos("test"), task, seed=demo.WHOLE_SEED, key="index",
                                task_index=t, max_size=40, multiple=1)
        vals = [
            peak_signal_noise_ratio(_u8(gt)[4:-4, 4:-4], _u8(lq)[4:-4, 4:-4], data_range=255)
            for lq, gt, _, _ in test
        ]
        got = res["whole_rows"]["degraded input"]["per_task"][task]["psnr"]
        assert got == pytest.approx(float(np.mean(vals)), abs=1e-6), task
    assert "## Whole photographs" in report and set(res["whole_verdict"]) == {"mixed", "art"}
    # ... read from the bench's files: each run's final evaluation and the degraded-input file
    # hold the whole photographs as the group `whole` (3 photographs x 7 tasks); nothing else
    import json

    inputs = json.loads((tmp_path / "quick" / "degraded-input.json").read_text())
    assert inputs["groups"]["whole"]["per_task"] == res["whole_rows"]["degraded input"]["per_task"]
    for s in ("mixed", "art"):
        files = sorted(p.name for p in (res["run_dirs"][s] / "eval").iterdir())
        assert files == ["step_00000003.json"], files
        final = json.loads((res["run_dirs"][s] / "eval" / files[0]).read_text())
        assert len(final["groups"]["whole"]["records"]) == 21
        assert final["groups"]["whole"]["per_task"] == res["whole_rows"][s]["per_task"]

    # the verdict counts the tasks where the strategy beats the input, recomputed here
    for s in ("mixed", "art"):
        rows = res["rows"]
        better = sum(rows[s]["per_task"][t]["psnr"] > rows["degraded input"]["per_task"][t]["psnr"]
                     for t in MIOIR_TASKS)
        assert res["verdict"][s]["n_tasks_beating_input"] == better

    # art vs mixed: the mean over tasks of the per-task PSNR differences, with an interval
    for key, table in (("crops", "rows"), ("whole", "whole_rows")):
        rows = res[table]
        want = np.mean([rows["art"]["per_task"][t]["psnr"] - rows["mixed"]["per_task"][t]["psnr"]
                        for t in MIOIR_TASKS])
        iv = res["vs_mixed"]["art"][0 if key == "crops" else 1]
        assert iv["estimate"] == pytest.approx(want, abs=1e-9)
        assert iv["lo"] <= iv["estimate"] <= iv["hi"]
    assert re.search(r"^- art - mixed: [+-]\d+\.\d\d \[", report, re.M)

    # the grid and plots next to the table (no uncertainty figures: neither strategy has a head;
    # no validation curve: the demo validates once, at the end; no all-zero 'clamped' curve)
    figures = res["report"]
    assert figures.out == tmp_path / "quick" / "report" and figures.html.is_file()
    assert {"restorations", "restoration_crops", "train_task_weight", "train_task_loss",
            "learning_rate"} <= {f.id for f in figures.drawn}, \
        {f.id: f.skipped for f in figures.skipped}
    assert {f.id for f in figures.skipped} == {"uncertainty_maps", "uncertainty_histograms",
                                               "validation_psnr", "train_clamped"}
    # the whole-photograph table is in the page too, from the runs' final evaluations
    assert "## Whole photographs" in (figures.out / "report.md").read_text()

    # the same command again: a bench rerun, every arm reused (not retrained), same tables
    ckpt = res["run_dirs"]["art"] / "checkpoints" / "step_00000003.pt"
    stamp = ckpt.stat().st_mtime_ns
    again = demo.run_demo(tmp_path, quick=True, strategies=("mixed", "art"), jobs=2,
                          progress=False)
    assert ckpt.stat().st_mtime_ns == stamp
    assert (again["table"], again["whole_table"], again["vs_mixed"]) == \
        (res["table"], res["whole_table"], res["vs_mixed"])


#: PSNR (dB) of the demo's degraded test inputs per task at the default budget (192 px crops),
#: as README.md reports them. Update both when the demo's test set changes on purpose.
DEMO_INPUT_PSNR = {"sr": 26.37, "blur": 27.33, "noise": 16.65, "jpeg": 32.20, "rain": 17.03,
                   "haze": 12.43, "dark": 16.38}


def test_the_demos_test_set_is_pinned():
    """The demo's test images (setting `embedded`, seed 1234, the first demo's generators) give
    the degraded-input row of the README, measured here with scikit-image: a change to the
    test set or its seeds cannot pass unnoticed."""
    from aioir.settings.assemble import validation_sets

    cfg = demo.demo_config("mixed", demo.BUDGETS["default"])
    sets, notes = validation_sets(cfg)
    assert [ts.column for ts in sets] == list(MIOIR_TASKS) and not notes
    for ts in sets:
        vals = [peak_signal_noise_ratio(_u8(gt)[4:-4, 4:-4], _u8(lq)[4:-4, 4:-4], data_range=255)
                for lq, gt, _, _ in ts]
        assert len(vals) == 3 and all(lq.shape[0] <= 192 for lq, *_ in ts)
        assert round(float(np.mean(vals)), 2) == DEMO_INPUT_PSNR[ts.column], ts.column


def test_the_demo_display_shows_starting_training_and_evaluation(monkeypatch, capsys):
    """The runs starting, then the steps from the first one (the workers' start-up kept out of
    the step rate), then the evaluation images; the step display closes at its total."""
    from aioir import progress as progress_mod
    from aioir.demo import _DemoDisplay

    monkeypatch.setenv(progress_mod.ENV, "lines")
    now = [0.0]
    monkeypatch.setattr(progress_mod, "_clock", lambda: now[0])
    d = _DemoDisplay(steps_total=4, eval_total=6, names=["demo-a", "demo-b"], shown=True)
    now[0] = 60.0  # a minute for the workers to start
    d.ready()
    d.ready()
    for _ in range(4):
        now[0] += 2.0
        d.step(1)
    d.evaluated("demo-a", 3)
    d.done("a")
    d.evaluated("demo-b", 3)
    d.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("demo: starting the runs:  50% 1/2")
    training = [ln for ln in lines if ln.startswith("demo: ") and "step" in ln]
    # 4 steps, the first at 62 s, the last at 68 s: 6 s for 3 intervals, not 68 s
    assert training[-1].startswith("demo: 100% 4/4 [00:06<00:00,  1.50s/step")
    assert [ln.split(" [")[0] for ln in lines if ln.startswith("demo evaluation")][-1] == \
        "demo evaluation: 100% 6/6"
