"""Resuming with a changed config: a change to the run's maths is refused unless
``--allow-changes``, naming the keys; every resolved config the run has used is kept
(``config.yaml`` for the first, ``configs/config_<step>.yaml`` from each resume on)."""

from __future__ import annotations

from pathlib import Path

import yaml

from aioir.cli import main
from aioir.config import dump_yaml


def _first_run(tmp_path: Path, make_config) -> tuple[Path, Path]:
    cfg = make_config("art", steps=2, checkpoint_every=2)
    cfg.data.patch_size = 16
    path = tmp_path / "cfg.yaml"
    dump_yaml(cfg, path)
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run)]) == 0
    return path, run


def _resume(path: Path, run: Path, *sets: str, allow: bool = False) -> int:
    argv = ["train", str(path), "--out", str(run), "--resume", "auto"]
    for item in sets:
        argv += ["--set", item]
    return main(argv + (["--allow-changes"] if allow else []))


def test_a_change_of_the_runs_maths_is_refused_and_nothing_is_rewritten(tmp_path, make_config,
                                                                       capsys):
    path, run = _first_run(tmp_path, make_config)
    first = (run / "config.yaml").read_text()
    files = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    capsys.readouterr()

    rc = _resume(path, run, "optim.lr=0.5", "train.steps=4", "strategy.options={tau: 2.0}")
    err = capsys.readouterr().err
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1, err
    for key in ("optim.lr (0.001 -> 0.5)", "train.steps (2 -> 4)",
                "strategy.options.tau (unset -> 2.0)", "--allow-changes"):
        assert key in err, err
    assert (run / "config.yaml").read_text() == first
    assert sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()) == files


def test_allowed_changes_are_recorded_beside_the_first_config(tmp_path, make_config, capsys):
    path, run = _first_run(tmp_path, make_config)
    first = (run / "config.yaml").read_text()

    assert _resume(path, run, "optim.lr=0.5", "train.steps=4", allow=True) == 0
    assert (run / "config.yaml").read_text() == first  # the record of steps 1-2 is kept
    second = yaml.safe_load((run / "configs" / "config_00000002.yaml").read_text())
    assert second["optim"]["lr"] == 0.5 and second["train"]["steps"] == 4
    assert "lr: 0.5" not in first
    assert (run / "configs" / "environment_00000002.json").is_file()
    assert sorted(p.name for p in (run / "checkpoints").iterdir())[-1] == "step_00000004.pt"


def test_keys_that_leave_the_maths_alone_need_no_permission(tmp_path, make_config, capsys):
    path, run = _first_run(tmp_path, make_config)
    sets = ("train.progress=true", "train.threads=2", "data.num_workers=0", "train.log_every=5",
            "train.checkpoint_every=1", "train.keep_checkpoints=3", "val.every=0", "name=other")
    rc = _resume(path, run, *sets)
    assert rc == 0, capsys.readouterr().err
    record = yaml.safe_load((run / "configs" / "config_00000002.yaml").read_text())
    assert record["train"]["threads"] == 2 and record["name"] == "other"


def test_a_fresh_run_never_overwrites_files_it_did_not_write(tmp_path, make_config, capsys):
    cfg = make_config("mixed", steps=1, checkpoint_every=1)
    cfg.data.patch_size = 16
    path = tmp_path / "cfg.yaml"
    dump_yaml(cfg, path)
    mine = tmp_path / "configs"
    mine.mkdir()
    (mine / "config.yaml").write_text("my: own config\n")
    rc = main(["train", str(path), "--out", str(mine)])
    err = capsys.readouterr().err
    assert rc == 2 and f"{mine} holds config.yaml, not written by an aioir run" in err, err
    assert (mine / "config.yaml").read_text() == "my: own config\n"
    assert sorted(p.name for p in mine.iterdir()) == ["config.yaml"]
    # a run folder whose first attempt died before its first checkpoint starts again
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run), "--set", "train.steps=1"]) == 0
    for p in (run / "checkpoints").iterdir():
        p.unlink()
    assert main(["train", str(path), "--out", str(run), "--resume", "auto"]) == 0
