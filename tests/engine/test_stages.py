"""Staged schedules and model-provided auxiliary losses, on AirNet's two-stage training and on
TransWeather, with every registered strategy (reduced sizes)."""

from __future__ import annotations

import pytest
import torch

from aioir import models, strategies
from aioir.config.schema import StageConfig
from aioir.engine.build import build_run
from aioir.engine.trainer import Trainer


def _airnet_config(make_config, strategy: str):
    cfg = make_config(strategy, steps=4, checkpoint_every=4)
    cfg.model.name = "airnet"
    cfg.model.options = models.reduced_options("airnet")
    cfg.data.views = 2
    cfg.data.patch_size = 16
    cfg.train.ema_decay = 0.0
    cfg.train.stages = [
        # stage 1: encoder only, contrastive only (AirNet's first 100 epochs)
        StageConfig(steps=2, recon_weight=0.0, aux_weights={"contrastive": 1.0},
                    trainable=["encoder"], lr=1e-3),
        # stage 2: everything, L1 + 0.1 contrastive
        StageConfig(steps=2, recon_weight=1.0, lr=1e-4),
    ]
    return cfg


@pytest.mark.parametrize("strategy", strategies.names())
def test_airnet_two_stage_training(tmp_path, make_config, strategy):
    cfg = _airnet_config(make_config, strategy)
    tr = Trainer(build_run(cfg), tmp_path)
    groups = tr.model.parameter_groups()
    snap = {}

    def on_step(step: int) -> None:
        enc = [p.detach().clone() for p in groups["encoder"]]
        res = [p.detach().clone() for p in groups["restorer"]]
        strat = {k: v.clone() for k, v in tr.strategy.state_dict().items()}
        snap[step] = (enc, res, strat)

    init = ([p.detach().clone() for p in groups["encoder"]],
            [p.detach().clone() for p in groups["restorer"]],
            {k: v.clone() for k, v in tr.strategy.state_dict().items()})
    res = tr.fit(on_step=on_step)
    assert res.status == "finished" and res.skipped_steps == 0

    def changed(a, b):
        return any(not torch.equal(x, y) for x, y in zip(a, b))

    # stage 1 (steps 1-2): the encoder learns, the restorer and the strategy state do not move
    assert changed(init[0], snap[2][0])
    assert not changed(init[1], snap[2][1])
    for k in init[2]:
        assert torch.equal(init[2][k], snap[2][2][k]), k
    # stage 2 (steps 3-4): the restorer learns too
    assert changed(snap[2][1], snap[4][1])

    import json

    recs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    by_step = {r["step"]: r for r in recs if "loss" in r}
    assert [by_step[s]["stage"] for s in (1, 2, 3, 4)] == [0, 0, 1, 1]
    assert all("contrastive" in by_step[s]["aux"] for s in (1, 2, 3, 4))
    # each stage restarts its own cosine: 1e-3 at step 1, 1e-4 at step 3, mid-way at step 4
    eta = cfg.schedule.min_lr
    assert by_step[1]["lr"] == pytest.approx(1e-3)
    assert by_step[3]["lr"] == pytest.approx(1e-4)
    assert by_step[4]["lr"] == pytest.approx(eta + 0.5 * (1e-4 - eta))


def test_airnet_without_views_is_a_clear_error(tmp_path, make_config):
    cfg = _airnet_config(make_config, "mixed")
    cfg.data.views = 1
    with pytest.raises(ValueError, match=r"data.views: 2"):
        Trainer(build_run(cfg), tmp_path)


def test_stage_lengths_must_match_steps(tmp_path, make_config):
    cfg = _airnet_config(make_config, "mixed")
    cfg.train.steps = 5
    with pytest.raises(ValueError, match=r"train.stages last 4 steps"):
        Trainer(build_run(cfg), tmp_path)


def test_unknown_parameter_group(tmp_path, make_config):
    cfg = _airnet_config(make_config, "mixed")
    cfg.train.stages[0].trainable = ["encodr"]
    with pytest.raises(ValueError, match=r"unknown parameter group\(s\) \['encodr'\]"):
        Trainer(build_run(cfg), tmp_path)


@pytest.mark.parametrize("strategy", strategies.names())
def test_transweather_trains_with_every_strategy(tmp_path, make_config, strategy):
    cfg = make_config(strategy, steps=2, checkpoint_every=2)
    cfg.model.name = "transweather"
    cfg.model.options = models.reduced_options("transweather")
    cfg.data.patch_size = 32
    cfg.data.batch_size = 3
    tr = Trainer(build_run(cfg), tmp_path)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    res = tr.fit()
    assert res.status == "finished" and res.skipped_steps == 0
    after = tr.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_extra_loss_is_added_with_its_weight(tmp_path, make_config):
    """A registry loss on (pred, gt) joins the total with its configured weight."""
    from aioir.config.schema import LossConfig
    torch.manual_seed(0)
    weights = tmp_path / "vgg.pt"
    # a torchvision-layout VGG16 features state dict with random weights (no download here)
    shapes = [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256)]
    idx = [0, 2, 5, 7, 10, 12, 14]
    sd = {}
    for i, (o, c) in zip(idx, shapes):
        sd[f"features.{i}.weight"] = torch.randn(o, c, 3, 3) * 0.05
        sd[f"features.{i}.bias"] = torch.zeros(o)
    torch.save(sd, weights)
    cfg = make_config("mixed", steps=1, checkpoint_every=1)
    cfg.train.extra_losses = [LossConfig(name="perceptual", weight=0.04,
                                         options={"weights": str(weights)})]
    tr = Trainer(build_run(cfg), tmp_path / "run")
    captured = {}
    real = tr.train_module.forward

    def spy(batch, restore=True):
        out, aux = real(batch, restore)
        captured["aux"] = {k: float(v.detach()) for k, v in aux.items()}
        captured["recon"] = float(out.loss.detach())
        return out, aux

    tr.train_module.forward = spy
    tr.fit()
    assert captured["aux"]["perceptual"] > 0
    import json

    rec = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert rec["aux"]["perceptual"] == pytest.approx(captured["aux"]["perceptual"], rel=1e-6)
    expected = captured["recon"] + 0.04 * captured["aux"]["perceptual"]
    assert rec["loss_total"] == pytest.approx(expected, rel=1e-6)
    assert not any(p.requires_grad for p in tr.module.extra_losses.parameters())


# ---------------------------------------------------------------- per-stage task subsets

def _cumulative_config(make_config):
    """MiOIR-style sequential stages: {noise}, {noise, dark}, all three; each stage after the
    first starts from a fresh optimizer (and, as every stage, a fresh cosine)."""
    cfg = make_config("mixed", steps=6, checkpoint_every=2)
    cfg.data.batch_size = 4
    cfg.train.stages = [StageConfig(steps=2, tasks=["noise"]),
                        StageConfig(steps=2, tasks=["noise", "dark"], fresh_optimizer=True),
                        StageConfig(steps=2, fresh_optimizer=True)]
    return cfg


def test_stage_task_subsets_restrict_the_stream(tmp_path, make_config):
    """Each stage's batches hold only its tasks (balanced over them); the trainer trains on
    exactly those, as its per-step log shows."""
    import json

    cfg = _cumulative_config(make_config)
    tr = Trainer(build_run(cfg), tmp_path)
    ids = [tr.dataset[i]["task_id"] for i in range(24)]  # tasks: noise 0, dark 1, jpeg 2
    assert ids[:8] == [0] * 8
    assert sorted(ids[8:10]) == sorted(ids[10:12]) == [0, 1]  # balanced blocks of 2
    assert sorted(ids[16:19]) == [0, 1, 2]                   # a block of 3 from the stage start
    tr.fit()
    recs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    seen = {r["step"]: set(r["task_loss"]) for r in recs if "loss" in r}
    assert seen[1] == seen[2] == {"noise"}
    assert seen[3] == seen[4] == {"noise", "dark"}
    assert seen[5] | seen[6] == {"noise", "dark", "jpeg"}


def test_fresh_optimizer_resets_adam_at_the_stage_start(tmp_path, make_config):
    cfg = _cumulative_config(make_config)
    tr = Trainer(build_run(cfg), tmp_path)
    steps_seen = {}

    def on_step(step: int) -> None:  # Adam's own step counter of the first parameter
        state = tr.optimizer.state_dict()["state"]
        steps_seen[step] = int(state[0]["step"])

    tr.fit(on_step=on_step)
    assert steps_seen == {1: 1, 2: 2, 3: 1, 4: 2, 5: 1, 6: 2}
    cfg.train.stages[1].fresh_optimizer = cfg.train.stages[2].fresh_optimizer = False
    tr = Trainer(build_run(cfg), tmp_path / "kept")
    tr.fit(on_step=on_step)
    assert steps_seen == {s: s for s in range(1, 7)}  # one Adam for the whole run


def test_unknown_stage_task_is_a_clear_error(tmp_path, make_config):
    cfg = _cumulative_config(make_config)
    cfg.train.stages[1].tasks = ["noise", "drak"]
    with pytest.raises(ValueError, match=r"train.stages.1.tasks: 'drak'.*did you mean 'dark'"):
        build_run(cfg)


@pytest.mark.parametrize("cut", [2, 3])
def test_resume_across_a_stage_boundary_is_exact(tmp_path, make_config, cut):
    """Interrupted at the boundary (step 2, the last step of stage 0) or inside the next stage
    (step 3), then resumed: the same weights, optimizer and strategy state as uninterrupted."""
    import os
    import signal

    from aioir.checkpoint import latest_checkpoint, load_checkpoint

    cfg = _cumulative_config(make_config)
    cfg.strategy.name = "art"
    Trainer(build_run(cfg), tmp_path / "full").fit()
    tr = Trainer(build_run(cfg), tmp_path / "cut")
    res = tr.fit(on_step=lambda s: os.kill(os.getpid(), signal.SIGINT) if s == cut else None)
    assert res.status == "interrupted" and res.step == cut
    assert Trainer(build_run(cfg), tmp_path / "cut", resume="auto").fit().step == 6
    a = load_checkpoint(latest_checkpoint(tmp_path / "full" / "checkpoints"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "cut" / "checkpoints"))
    for part in ("model", "ema", "strategy"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    for k, v in a["optimizer"]["state"].items():
        for name, t in v.items():
            assert torch.equal(t, b["optimizer"]["state"][k][name]), (k, name)
