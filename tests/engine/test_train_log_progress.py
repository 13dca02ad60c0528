"""What a run shows while it trains: ``train.log`` (BasicSR-style text), a validation display,
and a training rate that leaves validation out."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from aioir import progress as progress_mod
from aioir.config.schema import ValConfig
from aioir.engine.build import build_run
from aioir.engine.trainer import Trainer


def _with_validation(make_config, steps: int, **train):
    cfg = make_config("mixed", steps=steps, **train)
    cfg.val = ValConfig(enabled=True, every=2, max_size=32, max_images=1)
    return cfg


def test_train_log_holds_steps_and_validation_and_a_resumed_run_appends(tmp_path, make_config):
    cfg = _with_validation(make_config, steps=4, log_every=2, checkpoint_every=2)
    trainer = Trainer(build_run(cfg), tmp_path / "run")

    def interrupt(step: int) -> None:
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    assert trainer.fit(on_step=interrupt).status == "interrupted"
    first = (tmp_path / "run" / "train.log").read_text().splitlines()
    Trainer(build_run(cfg), tmp_path / "run", resume="auto").fit()
    lines = (tmp_path / "run" / "train.log").read_text().splitlines()
    assert lines[:len(first)] == first  # appended, nothing rewritten
    text = "\n".join(lines)
    assert "training started, 4 steps" in first[0] and "training interrupted" in first[-1]
    assert "training resumed at step 3, 4 steps" in lines[len(first)]
    records = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    for rec in (r for r in records if "loss" in r):
        line = next(ln for ln in lines if re.search(rf"\[step: +{rec['step']}/4, lr:", ln))
        assert f"lr:({rec['lr']:.3e})" in line and f"loss: {rec['loss']:.4e}" in line
        for task in ("noise", "dark", "jpeg"):
            if task in rec["task_loss"]:
                assert f"loss_{task}: {rec['task_loss'][task]:.4e}" in line
                assert f"w_{task}: {rec['task_weight'][task]:.4f}" in line
    vals = [r for r in records if "val" in r]
    assert [r["step"] for r in vals] == [2, 4]
    for rec in vals:
        psnr = rec["val"]["noise"]["psnr"]
        assert re.search(rf"\[step: {rec['step']}\] validation noise  psnr: {psnr:.4f}", text)
    eta = [ln for ln in lines if "[eta: " in ln]
    assert eta and all(re.search(r"time: \d+\.\d{3} s/step", ln) for ln in eta)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_validation_shows_progress_and_the_training_rate_leaves_it_out(
        tmp_path, make_config, monkeypatch, capsys):
    """Each training step takes 1 s and each validation 1000 s on a fake clock: the training
    display's rate reads steps per training second (it counted the 2000 s of validation), and
    the validation shows its own display."""
    clock = _Clock()
    monkeypatch.setattr(progress_mod, "_clock", clock)
    monkeypatch.setenv(progress_mod.ENV, "lines")
    cfg = _with_validation(make_config, steps=4, progress=True)
    trainer = Trainer(build_run(cfg), tmp_path / "run")
    real = trainer.validate

    def slow_validation(*args, **kwargs):
        clock.now += 1000.0
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "validate", slow_validation)

    def step(_: int) -> None:
        clock.now += 1.0

    trainer.fit(on_step=step)
    err = capsys.readouterr().err
    train_lines = [ln for ln in err.splitlines() if ln.startswith("t-mixed:")]
    # the 4th update comes 3 fake seconds after the 1st (on_step runs after the display's
    # update): 4 steps in 3 s, the 2 x 1000 s of validation left out
    assert train_lines[-1].startswith("t-mixed: 100% 4/4 [00:03<00:00,  1.33step/s")
    shown = [ln for ln in err.splitlines() if ln.startswith("t-mixed validation:")]
    # one display per validation (step 2 and the final one): 3 images (3 tasks x 1)
    assert len([ln for ln in shown if " 3/3 " in ln]) == 2


@pytest.mark.parametrize("columns", [80, 120, 300])
def test_the_postfix_fits_the_terminal(tmp_path, make_config, monkeypatch, columns):
    """The live bar's line, with the per-task postfix the trainer chose, fits ``columns`` and
    leaves at least 10 columns of bar (at 80 columns the 3-task detail left a 1-character bar
    and was cut)."""
    import io

    from tqdm import tqdm

    from aioir.progress import fit_postfix

    cfg = make_config("mixed", steps=1)
    cfg.data.tasks = ["noise", "dark", "jpeg", "sr", "blur", "haze", "rain"]
    trainer = Trainer(build_run(cfg), tmp_path / "run")
    import torch

    from aioir.strategies.base import StrategyOutput

    k = len(cfg.data.tasks)
    out = StrategyOutput(torch.tensor(0.0412), torch.full((k,), 0.0361),
                         torch.full((k,), 1.0 / k), torch.ones(k, dtype=torch.bool))
    variants = trainer._postfix(out, {"cls": 0.5})
    assert "task loss/weight: noise 0.036/0.14" in variants[0]  # labelled, every task
    monkeypatch.setenv("COLUMNS", str(columns))
    bar = tqdm(total=450, initial=211, desc="demo-mixed", unit="step", file=io.StringIO(),
               ncols=columns)
    bar.set_postfix_str(fit_postfix(bar, variants))
    line = str(bar)
    bar.close()
    assert len(line) <= columns
    drawn = re.search(r"\|(.*)\|", line).group(1)
    assert len(drawn) >= 10
    assert line.endswith("]")  # not cut
    if columns >= 300:  # room for the labelled detail of all 7 tasks
        assert "task loss/weight" in line
