"""The demo's preset file (src/aioir/bench/presets/demo.yaml) read into run configs."""

from __future__ import annotations

import pytest

from aioir.bench import preset


def test_quick_overrides_the_default_budget_and_keeps_the_rest():
    # README: --quick trains 150 steps at batch 12 and width 16; the default 420 at 16 and 24;
    # both on 64 px crops at lr 1e-3, validated on 192 px crops
    default, quick = preset.BUDGETS["default"], preset.BUDGETS["quick"]
    assert (default.steps, default.batch_size, default.width) == (420, 16, 24)
    assert (quick.steps, quick.batch_size, quick.width) == (150, 12, 16)
    assert (quick.patch_size, quick.lr, quick.val_max_size) == (64, 1e-3, 192)


def test_a_demo_run_config_by_hand():
    cfg = preset.demo_config("art", preset.BUDGETS["quick"], seed=2)
    assert preset.STRATEGIES == ("mixed", "tur", "art")
    assert cfg.name == "demo-art"
    assert cfg.strategy.name == "art" and cfg.strategy.options == {"tau": 3.0}
    assert cfg.model.name == "aware_unet"
    assert cfg.model.options == {"width": 16, "num_tasks": 7, "heads": "both", "clean": 0.25,
                                 "filter_size": 7, "filter_fit": "lstsq",
                                 "classifier": "stats", "gate": "hard",
                                 "lattice_class": cfg.data.tasks.index("jpeg"),
                                 "filter_tasks": [cfg.data.tasks.index(t)
                                                  for t in ("sr", "blur", "noise", "jpeg")]}
    assert cfg.data.setting == "embedded" and len(cfg.data.tasks) == 7
    assert cfg.data.classifier_copies == 3
    assert (cfg.train.steps, cfg.train.seed, cfg.train.threads) == (150, 2, 1)
    assert cfg.schedule.warmup_steps == 150 // 20 and cfg.train.checkpoint_every == 150 // 4
    assert cfg.train.ema_decay == 0.99 and cfg.train.grad_clip == 1.0
    assert cfg.val.protocol == "mioir" and cfg.val.max_size == 192
    assert preset.demo_config("mixed", preset.BUDGETS["quick"]).strategy.options == {}


def test_an_unknown_budget_key_names_the_file_and_the_key():
    with pytest.raises(ValueError, match=r"demo\.yaml: budget 'quick' has unknown keys \['stepz'\]"):
        preset._budgets({"default": {"steps": 1, "patch_size": 8, "batch_size": 1, "lr": 0.1,
                                     "width": 8, "val_max_size": 8},
                         "quick": {"stepz": 2}})
