"""`aioir train` finds every config mistake before it writes the run folder, and `--steps N`
shortens any config (stages scaled in proportion)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aioir.cli import main
from aioir.config import dump_yaml


def _train(tmp_path: Path, make_config, *sets: str, steps: int | None = None):
    cfg = make_config("art", steps=2, checkpoint_every=2)
    path = tmp_path / "cfg.yaml"
    dump_yaml(cfg, path)
    run = tmp_path / "run"
    argv = ["train", str(path), "--out", str(run)]
    for item in sets:
        argv += ["--set", item]
    if steps is not None:
        argv += ["--steps", str(steps)]
    return main(argv), run


@pytest.mark.parametrize("setting, message", [
    ("model.options={widht: 8}", "model.options: tiny_unet has no option 'widht'; did you mean "
                                 "'width'?"),
    ("strategy.options={taau: 3.0}", "strategy.options: art has no option 'taau'; did you mean "
                                     "'tau'?"),
    ("strategy.options={num_tasks: 3}", "strategy.options: 'num_tasks' is set by aioir itself"),
    ("train.checkpoint_every=0", "train.checkpoint_every must be >= 1, got 0"),
    ("train.log_every=0", "train.log_every must be >= 1, got 0"),
    ("train.steps=0", "train.steps must be >= 1, got 0"),
    ("train.steps=-3", "train.steps must be >= 1, got -3"),
    ("data.batch_size=0", "data.batch_size must be >= 1, got 0"),
    ("train.seed=-1", "train.seed must be >= 0, got -1"),
    ("data.classifier_copies=-1", "data.classifier_copies must be >= 0, got -1"),
    ("data.tasks=[noise, rian]", "data.tasks: unknown task 'rian'; did you mean 'rain'?"),
    ("data.setting=three_tsak", "data.setting: unknown setting 'three_tsak'; did you mean "
                                "'three_task'?"),
    ("data.setting=three_task", "data.root must be set"),
    ("model.name=tiny_unte", "model.name: unknown model 'tiny_unte'; did you mean 'tiny_unet'?"),
])
def test_config_mistakes_are_named_before_the_run_folder_exists(tmp_path, make_config, capsys,
                                                                setting, message):
    extra = ("data.tasks=null",) if setting.startswith("data.setting=three_task") else ()
    rc, run = _train(tmp_path, make_config, setting, *extra)
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err, err
    assert not run.exists()


def test_a_fresh_run_refuses_a_used_folder_without_touching_it(tmp_path, make_config, capsys):
    rc, run = _train(tmp_path, make_config)
    assert rc == 0
    before = (run / "config.yaml").read_text()
    rc, _ = _train(tmp_path, make_config, "optim.lr=0.5")
    assert rc == 2 and "--resume auto" in capsys.readouterr().err
    assert (run / "config.yaml").read_text() == before  # the first run's config is kept


def test_steps_scales_every_stage(tmp_path, make_config, capsys):
    """A staged config cut to 5 steps: stages 2:6:12 of 20 become 1:1:3 (largest remainder,
    >= 1 each), the checkpoint interval shrinks in proportion, the run trains 5 steps."""
    stages = "train.stages=[{steps: 2, tasks: [noise]}, {steps: 6}, {steps: 12, lr: 1.0e-4}]"
    rc, run = _train(tmp_path, make_config, "train.steps=20", "train.checkpoint_every=8", stages,
                     steps=5)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "budget: 20 -> 5 steps" in out and "stages: 2->1, 6->1, 12->3" in out
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["train"]["steps"] == 5
    assert [s["steps"] for s in resolved["train"]["stages"]] == [1, 1, 3]
    assert resolved["train"]["stages"][0]["tasks"] == ["noise"]
    assert resolved["train"]["checkpoint_every"] == 2  # round(8 * 5 / 20)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps[-1] == 5
    assert sorted(p.name for p in (run / "checkpoints").iterdir())[-1] == "step_00000005.pt"


def test_steps_on_a_plain_config_and_too_few_steps():
    from aioir.config.budget import scale_budget
    from aioir.config.schema import RunConfig, StageConfig

    cfg = RunConfig()
    cfg.train.steps, cfg.schedule.warmup_steps, cfg.val.every = 1000, 100, 250
    new, lines = scale_budget(cfg, 10)
    assert (new.train.steps, new.schedule.warmup_steps, new.val.every) == (10, 1, 2)
    assert cfg.train.steps == 1000  # the original is not modified
    cfg.train.stages = [StageConfig(steps=500), StageConfig(steps=300), StageConfig(steps=200)]
    new, lines = scale_budget(cfg, 2)
    assert [s.steps for s in new.train.stages] == [1, 1, 1] and new.train.steps == 3
    assert any("at least one step each" in line for line in lines)
    assert new.schedule.warmup_steps == 0  # kept below the first stage's single step


def test_a_config_without_progress_display_says_so(tmp_path, make_config, capsys):
    """Issue 22: a demo or bench run's config.yaml has ``train.progress: false`` (its display
    was its parent's); ``aioir train`` on it says why nothing moves until the end."""
    rc, _ = _train(tmp_path, make_config)  # the tests' config: progress false
    out = capsys.readouterr().out
    assert rc == 0
    assert f"train.progress is false in {tmp_path / 'cfg.yaml'}: no progress display" in out
