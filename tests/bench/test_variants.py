"""Bench variants: extra rows that train a strategy on the base merged with a partial config
(MiOIR's sequential stages, a prompt wrapper). Checked against hand-computed stage lengths,
the variant's own data stream, the spec's growth rules, and one tiny bench end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from aioir.bench import run_bench
from aioir.bench.spec import Cell, cell_config, merge_specs, parse_variant

SEQ = {"train": {"stages": [{"steps": 1, "tasks": ["noise"], "fresh_optimizer": True},
                            {"steps": 3, "tasks": ["noise", "dark"], "fresh_optimizer": True}]}}


def test_a_variant_cell_is_its_strategy_on_the_merged_config(tiny_spec, tmp_path):
    spec = tiny_spec(variants={"art-S": {"strategy": "art", "config": SEQ}},
                     strategy_options={"art-S": {"tau": 3}})
    assert spec.rows == ["mixed", "art", "art-S"]
    cfg = cell_config(spec, Cell("art-S", 1, 6), tmp_path)
    assert cfg.strategy.name == "art" and cfg.strategy.options == {"tau": 3}
    # shares 1:3 of 6 steps: exact 1.5 / 4.5, floors 1 / 4, the remaining step to the larger
    # remainder (a tie: the first) -> 2 / 4
    assert [s.steps for s in cfg.train.stages] == [2, 4] and cfg.train.steps == 6
    assert [s.tasks for s in cfg.train.stages] == [["noise"], ["noise", "dark"]]
    assert cfg.data.cache == str(tmp_path / "data-cache/steps_00000006-seed_1-art-S")
    plain = cell_config(spec, Cell("art", 1, 6), tmp_path)
    assert plain.train.stages == [] and plain.data.cache.endswith("steps_00000006-seed_1")
    assert plain.model == cfg.model  # the variant changed only what its config names


def test_parse_variant_reads_the_file_and_names_mistakes(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SEQ))
    assert parse_variant(f"mixed-S=mixed:{path}") == ("mixed-S", {"strategy": "mixed",
                                                                  "config": SEQ})
    assert parse_variant("plain=uw") == ("plain", {"strategy": "uw", "config": {}})
    with pytest.raises(ValueError, match="must look like LABEL=STRATEGY"):
        parse_variant("mixed-S")
    with pytest.raises(FileNotFoundError, match=r"no such config file: nope.yaml"):
        parse_variant("x=mixed:nope.yaml")


@pytest.mark.parametrize("label, variant, message", [
    ("art", {"strategy": "mixed", "config": {}}, "is a strategy's name"),
    ("a/b", {"strategy": "mixed", "config": {}}, "letters, digits"),
    ("x", {"strategy": "nope", "config": {}}, "unknown strategy 'nope'"),
    ("x", {"strategy": "mixed", "config": {"data": {"batch_size": 0}}}, "row 'x'.*batch_size"),
])
def test_bad_variants_are_refused_before_training(tiny_spec, tmp_path, label, variant, message):
    with pytest.raises(ValueError, match=message):
        run_bench(tiny_spec(variants={label: variant}), tmp_path / "b", progress=False)
    assert not (tmp_path / "b").exists()


def test_growing_by_a_variant_and_changing_one():
    old = {"base": {}, "strategies": ["mixed"], "seeds": [0], "steps": [6],
           "variants": {"m-S": {"strategy": "mixed", "config": SEQ}}}
    merged, diffs = merge_specs(old, {**old, "variants": {"m-AP": {"strategy": "mixed",
                                                                    "config": {}}}})
    assert diffs == [] and list(merged["variants"]) == ["m-S", "m-AP"]
    changed = {"strategy": "art", "config": SEQ}
    assert merge_specs(old, {**old, "variants": {"m-S": changed}})[1] == \
        ["variants.m-S.strategy: 'mixed' -> 'art'"]


@pytest.mark.timeout(240)
def test_variants_train_in_one_table(tiny_spec, tmp_path):
    """Sequential stages (scaled to the budget) and an explicit-prompt wrapper as rows next to
    the plain strategies; the explicit prompts are validated with each set's own prompt."""
    ep = {"model": {"name": "prompted", "options": {
        "backbone": "tiny_unet", "prompt": "explicit", "prompt_tasks": 2,
        "prompt_task_names": ["noise", "dark"]}}}
    spec = tiny_spec(strategies=["mixed"], seeds=[0],
                     variants={"mixed-S": {"strategy": "mixed", "config": SEQ},
                               "mixed-EP": {"strategy": "mixed", "config": ep}})
    out = tmp_path / "b"
    result = run_bench(spec, out, jobs=2, progress=False)
    assert result.status == "finished", result.errors
    assert set(result.tables[6]["differences"]) == {"mixed-S", "mixed-EP"}
    run = out / "runs/steps_00000006/seed_0/mixed-S"
    stages = yaml.safe_load((run / "config.yaml").read_text())["train"]["stages"]
    assert [s["steps"] for s in stages] == [2, 4]
    # the sequential stream: the first 2 steps (8 samples) draw noise only, the stage's one
    # task (id 0 of noise, dark); the plain stream mixes both from the start
    ids = np.load(out / "data-cache/steps_00000006-seed_0-mixed-S/task_id.npy")
    assert ids[:8].tolist() == [0] * 8 and set(ids[8:].tolist()) == {0, 1}
    plain = np.load(out / "data-cache/steps_00000006-seed_0/task_id.npy")
    assert set(plain[:8].tolist()) == {0, 1}
    results = json.loads((out / "results.json").read_text())
    assert results["spec"]["variants"]["mixed-EP"]["config"] == ep
    assert "Variant `mixed-S`: strategy `mixed` on train.stages: 2 entries" in \
        (out / "results.md").read_text()


def test_a_base_without_data_tasks_validates_with_the_settings_tasks(tiny_spec):
    """``data.tasks`` unset means all of the setting's tasks (7 for embedded): the strategies'
    options are checked with that count (it raised a TypeError on ``len(None)`` before)."""
    spec = tiny_spec(strategy_options={"art": {"tau": 3}})
    spec.base["data"]["tasks"] = None
    spec.validate()
    spec.strategy_options = {"art": {"temperature": 3}}
    with pytest.raises(ValueError, match="strategy 'art' options"):
        spec.validate()


def test_a_label_given_twice_is_refused(tmp_path, capsys):
    from aioir.cli import main

    assert main(["bench", "demo:quick", "--strategies", "mixed", "--variant", "a=mixed",
                 "--variant", "a=art", "--out", str(tmp_path / "b")]) == 2
    assert "--variant 'a' is given twice" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["demo_aware_both", "demo_soft_gate"])
def test_the_demo_research_variants_build_their_network(name):
    """The research log's rows (docs/benchmarks.md, "How we got there") as bench variants of the
    demo's config: each file merges into a valid spec and builds the network it describes, with
    the options transcribed here from the log's description of the row."""
    from pathlib import Path

    from aioir import models
    from aioir.bench.spec import BenchSpec, base_from_source

    root = Path(__file__).resolve().parents[2]
    label, variant = parse_variant(f"v=mixed:{root / 'benchmarks' / 'variants' / name}.yaml")
    base, _ = base_from_source("demo", (), ["mixed"])
    spec = BenchSpec(base=base, strategies=["mixed"], seeds=[0], steps=[450], baseline="mixed",
                     variants={label: variant})
    spec.validate()
    cfg = cell_config(spec, Cell(label, 0, 450), "/tmp/b")
    want = {"demo_aware_both": {"heads": "both", "clean": 0.0, "filter_size": 0,
                                "filter_fit": "grad", "filter_tasks": None,
                                "classifier": "trunk", "gate": "soft", "lattice_class": -1},
            "demo_soft_gate": {"heads": "both", "clean": 0.25, "filter_size": 7,
                               "filter_fit": "lstsq", "classifier": "stats", "gate": "soft"}}[name]
    assert cfg.model.name == "aware_unet" and cfg.model.options["width"] == 24
    assert {k: cfg.model.options[k] for k in want} == want
    net = models.build(cfg.model.name, **cfg.model.options)
    assert net.gate == want["gate"]
