"""configs/diffusion: every file loads strictly, carries the paper's recipe (App. G.2), names
settings that exist, and its network builds (at reduced size)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aioir import models, settings
from aioir.config import load_config
from aioir.config.schema import RunConfig

ROOT = Path(__file__).resolve().parents[2]
DIR = ROOT / "configs" / "diffusion"
RUNS = sorted(DIR.glob("*.yaml"))
PAPER = [p for p in RUNS if not p.name.startswith("embedded_")]


def test_the_papers_two_settings_are_there():
    names = {p.stem for p in RUNS}
    for task in ["dehaze", "derain", "desnow", "lowlight"]:
        assert {f"setting_a_{task}_pretrain", f"setting_a_{task}_finetune"} <= names
    assert {"daclip10_pretrain", "daclip10_incremental"} <= names


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_recipe(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # Setting A configs name their setting by a repository path
    cfg = load_config(RunConfig, path)
    assert cfg.model.name == "diffusion" and cfg.model.options["timesteps"] == 50
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.betas[0]) == ("adam", 5e-5, 0.9)
    assert cfg.schedule.name == "cosine"
    assert (cfg.data.patch_size, cfg.data.batch_size) == (128, 16)
    kind = path.stem.rsplit("_", 1)[1]
    assert cfg.train.steps == {"pretrain": 500_000, "finetune": 300_000,
                               "incremental": 10 * 100_000}[kind]
    setting = settings.get_setting(cfg.data.setting)
    if path.stem.startswith("daclip10"):
        assert cfg.data.setting == "daclip10" and len(setting.task_names) == 10
    else:
        assert len(setting.task_names) == 1 and setting.groups == ["main", "generalization"]
    if kind != "pretrain":
        gef = cfg.model.options["gef"]
        assert (gef["gen_ratio"], gef["reg_lambda"], gef["decay_rate"]) == (0.1, 0.2, 0.05)
    if kind == "incremental":
        assert cfg.model.options["moe_experts"] == 10


@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.stem)
def test_the_network_builds_at_reduced_size(path):
    cfg = load_config(RunConfig, path)
    options = dict(cfg.model.options)
    if cfg.model.name == "diffusion":
        options["backbone_options"] = models.reduced_options(options["backbone"])
        options.pop("gef", None)
    else:
        options = models.reduced_options(cfg.model.name)
    assert models.build(cfg.model.name, **options) is not None
