"""Run folders found by their content and grouped into seeds of one configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aioir.report.runs import find_runs, group_runs, load_run


def _fake_run(folder: Path, config: dict, records=({"step": 1, "loss": 0.5},)) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def _cfg(strategy: str, seed: int, steps: int = 10, **extra) -> dict:
    return {"name": f"{strategy}-{seed}", "strategy": {"name": strategy, "options": {}},
            "train": {"seed": seed, "steps": steps, "threads": seed + 1}, **extra}


def test_finds_run_folders_recursively_by_their_content(tmp_path):
    _fake_run(tmp_path / "a" / "deep" / "run1", _cfg("mixed", 0))
    _fake_run(tmp_path / "run2", _cfg("tur", 0))
    (tmp_path / "not_a_run").mkdir()
    (tmp_path / "not_a_run" / "config.yaml").write_text("name: x\n")  # no metrics.jsonl
    found = [r.path.relative_to(tmp_path.resolve()).as_posix() for r in find_runs([tmp_path])]
    assert found == ["a/deep/run1", "run2"]
    # a run folder given directly, and given twice, is reported once
    assert len(find_runs([tmp_path / "run2", tmp_path / "run2"])) == 1


def test_missing_or_empty_paths_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        find_runs([tmp_path / "nope"])
    with pytest.raises(FileNotFoundError, match="no run folder"):
        find_runs([tmp_path])


def test_bad_metrics_line_names_file_and_line(tmp_path):
    run = _fake_run(tmp_path / "r", _cfg("mixed", 0))
    (run / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2, oops\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl, line 2"):
        load_run(run)


def test_seeds_of_one_config_form_one_group_labelled_by_strategy(tmp_path):
    for strategy in ("mixed", "tur"):
        for seed in (1, 0):  # threads and names differ too: they do not change results
            _fake_run(tmp_path / strategy / f"s{seed}", _cfg(strategy, seed))
    groups = group_runs(find_runs([tmp_path]))
    assert [(g.label, g.seeds) for g in groups] == [("mixed", [0, 1]), ("tur", [0, 1])]
    assert groups[1].first.path.name == "s0"


def test_groups_of_one_strategy_are_told_apart_by_the_keys_that_differ(tmp_path):
    for steps in (10, 40):
        for seed in (0, 1):
            _fake_run(tmp_path / f"tur-{steps}-{seed}", _cfg("tur", seed, steps))
    _fake_run(tmp_path / "mixed", _cfg("mixed", 0, 10))
    labels = sorted(g.label for g in group_runs(find_runs([tmp_path])))
    assert labels == ["mixed", "tur, train.steps=10", "tur, train.steps=40"]


def test_reads_latest_evaluation_and_checkpoint(tmp_path):
    run = _fake_run(tmp_path / "r", _cfg("mixed", 0))
    (run / "eval").mkdir()
    for step in (5, 10):
        (run / "eval" / f"step_{step:08d}.json").write_text(json.dumps({"step": step}))
    (run / "checkpoints").mkdir()
    for step in (2, 8):
        (run / "checkpoints" / f"step_{step:08d}.pt").write_bytes(b"")
    loaded = load_run(run)
    assert loaded.eval_step == 10 and loaded.evaluation == {"step": 10}
    assert loaded.checkpoint.name == "step_00000008.pt"


def test_falls_back_to_the_evaluation_aioir_eval_wrote(tmp_path):
    run = _fake_run(tmp_path / "r", _cfg("mixed", 0))
    (run / "eval").mkdir()
    (run / "eval" / "eval_step_00000010.json").write_text(json.dumps({"by": "aioir eval"}))
    assert load_run(run).evaluation == {"by": "aioir eval"}
    (run / "eval" / "step_00000004.json").write_text(json.dumps({"by": "trainer"}))
    assert load_run(run).evaluation == {"by": "trainer"}
