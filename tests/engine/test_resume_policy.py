"""aioir.engine.resume: which config changes a resume may make, and the messages when a
checkpoint does not fit the run (a different model width)."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from aioir.config import to_dict
from aioir.engine.build import build_run
from aioir.engine.resume import ConfigChangedError, check_resume_config, config_changes
from aioir.engine.trainer import Trainer


def test_changes_are_classified_key_by_key():
    old = {"name": "a", "model": {"name": "tiny_unet", "options": {"width": 8}},
           "train": {"steps": 10, "threads": 1, "log_every": 5,
                     "stages": [{"steps": 4, "lr": None}, {"steps": 6, "lr": 1e-4}]},
           "val": {"every": 0, "groups": ["main"]}}
    new = {"name": "b", "model": {"name": "tiny_unet", "options": {"width": 16, "blocks": 2}},
           "train": {"steps": 10, "threads": 4, "log_every": 1,
                     "stages": [{"steps": 4, "lr": None}, {"steps": 6, "lr": 2e-4}]},
           "val": {"every": 5, "groups": ["main", "ood"]}}
    got = [(c.key, c.old, c.new, c.kind) for c in config_changes(old, new)]
    assert got == [
        ("name", "a", "b", "bookkeeping"),
        ("model.options.width", 8, 16, "maths"),
        ("model.options.blocks", "unset", 2, "maths"),
        ("train.threads", 1, 4, "execution"),
        ("train.log_every", 5, 1, "bookkeeping"),
        ("train.stages.1.lr", 1e-4, 2e-4, "maths"),
        ("val.every", 0, 5, "bookkeeping"),
        ("val.groups", ["main"], ["main", "ood"], "bookkeeping"),
    ]


def test_a_key_added_to_the_schema_since_is_no_change(make_config):
    cfg = make_config("mixed")
    old = to_dict(cfg)
    del old["train"]["max_nonfinite"], old["val"]["use_ema"]  # as an older aioir wrote it
    assert check_resume_config(old, cfg, allow=False, source="ck.pt") == []
    old["optim"]["lr"] = 0.5
    with pytest.raises(ConfigChangedError, match=r"resuming ck.pt with a config that changes "
                                                 r"the run: optim.lr \(0.5 -> 0.001\)"):
        check_resume_config(old, cfg, allow=False, source="ck.pt")


def _interrupted_run(tmp_path, cfg):
    res = Trainer(build_run(cfg), tmp_path / "run").fit(
        on_step=lambda s: os.kill(os.getpid(), signal.SIGINT) if s == 1 else None)
    assert res.status == "interrupted" and res.step == 1
    return tmp_path / "run"


def test_resuming_with_another_width_names_the_key_then_the_tensors(tmp_path, make_config):
    cfg = make_config("mixed", steps=2)
    cfg.data.patch_size = 16
    run = _interrupted_run(tmp_path, cfg)
    wider = make_config("mixed", steps=2)
    wider.data.patch_size, wider.model.options = 16, {"width": 16}
    with pytest.raises(ConfigChangedError, match=r"model.options.width \(8 -> 16\)"):
        Trainer(build_run(wider), run, resume="auto")
    with pytest.raises(ValueError) as info:
        Trainer(build_run(wider), run, resume="auto", allow_changes=True)
    message = str(info.value)
    assert "\n" not in message
    assert "its model state does not fit the run built from the config" in message
    assert "tensors differ in shape, first: " in message
    assert "[8, 3, 3, 3] in the checkpoint vs [16, 3, 3, 3] in the model" in message
    assert message.endswith("config keys that differ from the checkpoint's: "
                            "model.options.width (8 -> 16)")


def test_validation_and_workers_leave_the_training_maths_alone(tmp_path, make_config):
    """Why ``val.*`` and ``data.num_workers`` are bookkeeping keys: a run that validates every
    step with a data-loader worker ends with the same weights as one that does neither."""
    plain = make_config("tur", steps=2)
    plain.data.patch_size = 16
    busy = make_config("tur", steps=2)
    busy.data.patch_size, busy.data.num_workers = 16, 1
    busy.val.enabled, busy.val.every, busy.val.max_size, busy.val.max_images = True, 1, 24, 1
    a = Trainer(build_run(plain), tmp_path / "plain")
    a.fit()
    b = Trainer(build_run(busy), tmp_path / "busy")
    b.fit()
    assert list((tmp_path / "busy" / "eval").iterdir())  # it did validate
    for (k, x), y in zip(a.state_dict()["model"].items(), b.state_dict()["model"].values()):
        assert torch.equal(x, y), k
    assert torch.equal(a.state_dict()["rng"]["torch"], b.state_dict()["rng"]["torch"])
