"""TensorBoard while training: the scalars of metrics.jsonl and a grid of restorations at each
validation, read back from the event file with TensorBoard's own EventAccumulator."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from aioir.config.schema import ValConfig

pytest.importorskip("tensorboard", reason="TensorBoard is not installed (aioir[tensorboard])")


def test_scalars_and_restoration_grids_reach_tensorboard(tmp_path, make_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from aioir.engine.run import train

    cfg = make_config("tur", steps=4)
    cfg.val = ValConfig(max_size=32, every=2)
    train(cfg, tmp_path)
    acc = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    acc.Reload()
    tags = acc.Tags()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]

    def logged(tag):
        return [(e.step, e.value) for e in acc.Scalars(tag)]

    def same(got, expected):  # same steps, values equal up to float32
        assert [s for s, _ in got] == [s for s, _ in expected]
        assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-6)

    train_recs = [r for r in records if "val" not in r]
    from aioir.settings.assemble import resolve_setting, validation_sets

    tasks = resolve_setting(cfg).task_names
    for task in tasks:
        for key in ("task_loss", "task_weight", "uncertainty"):
            expected = [(r["step"], r[key][task]) for r in train_recs if task in r[key]]
            same(logged(f"{key}/{task}"), expected)
        same(logged(f"val/{task}/psnr"),
             [(r["step"], r["val"][task]["psnr"]) for r in records if "val" in r])
    same(logged("lr"), [(r["step"], r["lr"]) for r in train_recs])
    same(logged("val_avg/psnr"), [(r["step"], r["val_avg"]["psnr"]) for r in records if "val" in r])
    assert [s for s, _ in logged("val_avg/psnr")] == [2, 4]

    # a grid at each validation: per task, degraded input | restored | ground truth
    assert "val/restorations" in tags["images"]
    events = acc.Images("val/restorations")
    assert [e.step for e in events] == [2, 4]
    grid = np.asarray(Image.open(io.BytesIO(events[-1].encoded_image_string)).convert("RGB"))
    sets, _ = validation_sets(cfg)  # the images the run validated on
    firsts = {ts.column: next(iter(ts)) for ts in sets}
    gap, top = 2, 0
    for task in tasks:
        first_lq, first_gt, _, _ = firsts[task]
        h, w = first_gt.shape[:2]
        lq_tile = grid[top:top + h, 0:w]
        gt_tile = grid[top:top + h, 2 * (w + gap):3 * w + 2 * gap]
        u8 = lambda x: np.round(np.clip(x, 0, 1) * 255).astype(np.int16)
        assert np.abs(lq_tile.astype(np.int16) - u8(first_lq)).max() <= 1, task
        assert np.abs(gt_tile.astype(np.int16) - u8(first_gt)).max() <= 1, task
        top += h + gap


def test_each_record_is_on_disk_before_write_returns(tmp_path, monkeypatch):
    """A run paused or killed after a step has that step's scalars in its event file: no
    background thread writes into the run folder later (the concurrent-run test snapshots it).
    TensorBoard writes events from a thread; it is slowed down here as on a busy machine."""
    import time

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.summary.writer.record_writer import RecordWriter

    from aioir.engine.logger import MetricsLog

    write = RecordWriter.write

    def slow_write(self, data):
        time.sleep(0.05)
        return write(self, data)

    monkeypatch.setattr(RecordWriter, "write", slow_write)

    log = MetricsLog(tmp_path / "metrics.jsonl")
    try:
        for step in (1, 2, 3):
            log.write({"step": step, "loss": 0.5 / step, "task_loss": {"noise": 0.1 * step}})
            acc = EventAccumulator(str(tmp_path / "tensorboard"))
            acc.Reload()  # reads the file as another process would, the writer still open
            losses = acc.Scalars("loss")
            assert [e.step for e in losses] == list(range(1, step + 1))
            assert [e.value for e in losses] == pytest.approx(
                [0.5 / s for s in range(1, step + 1)], rel=1e-6)
            assert [e.step for e in acc.Scalars("task_loss/noise")] == list(range(1, step + 1))
    finally:
        log.close()
