"""The paper-reproduction configs in configs/experiments: they load strictly, name things that
exist, their step counts equal the conversions worked out here by hand from the authors' code,
their learning rates follow the authors' schedules, and every backbone/strategy pair they use
builds (at reduced size; nothing is trained)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from aioir import models, settings, strategies
from aioir.config import load_config
from aioir.config.schema import ModelConfig, RunConfig
from aioir.engine import build
from aioir.engine.schedule import lr_at
from aioir.engine.stages import resolve_stages, stage_at
from aioir.settings.assemble import resolve_setting

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "configs" / "experiments"


def _sequential(p: Path) -> bool:
    """MiOIR "-S" files (cumulative ``train.stages[].tasks`` with fresh optimizers)."""
    return p.stem.endswith("_s") or "_s_" in p.stem


ALL_YAML = sorted(EXP.rglob("*.yaml"))
RUNS = sorted(EXP.glob("*.yaml"))  # runnable (top level)
BASES = sorted((EXP / "base").glob("*.yaml"))
SEQUENTIAL = [p for p in ALL_YAML if _sequential(p)]


def _load(path: Path) -> RunConfig:
    return load_config(RunConfig, path)


def _id(p: Path) -> str:
    return str(p.relative_to(EXP))


def test_the_expected_experiments_exist():
    names = {p.stem for p in RUNS}
    for base in ["three_task_airnet", "three_task_promptir", "allweather_transweather",
                 "allweather_transweather_artcopy", "mioir7_srresnet", "mioir7_promptir",
                 "mioir7_restormer", "mioir7_uformer"]:
        assert (EXP / "base" / f"{base}.yaml").is_file(), base
        for strategy in ["mixed", "tur", "art"]:
            assert f"{base}_{strategy}" in names, f"{base}_{strategy}"
    # the TUR recipe as its authors ran AirNet, with the three strategies
    for strategy in ["mixed", "tur", "art"]:
        assert f"three_task_airnet_turcode_{strategy}" in names
    # MiOIR's prompt ablation (M + EP, M + AP) per backbone
    for backbone in ["srresnet", "uformer"]:
        for prompt in ["ep", "ap"]:
            assert f"mioir7_{backbone}_{prompt}_mixed" in names
    seq = {p.stem for p in SEQUENTIAL if p.parent == EXP}
    assert len(RUNS) == 24 + 3 + 4 + len(seq)
    assert seq == {f"mioir7_{b}_{v}" for b in ("srresnet", "uformer")
                   for v in ("s_mixed", "s_art", "s_ep_mixed", "s_ap_mixed")}


@pytest.mark.parametrize("path", ALL_YAML, ids=_id)
def test_every_yaml_loads_strictly(path):
    cfg = _load(path)
    assert cfg.strategy.name in strategies.names()


@pytest.mark.parametrize("path", RUNS + BASES, ids=_id)
def test_names_exist_and_stages_add_up(path):
    cfg = _load(path)
    assert cfg.data.setting in settings.names()
    assert cfg.model.name in models.names()
    assert cfg.strategy.name in strategies.names()
    if cfg.train.stages:
        assert sum(s.steps for s in cfg.train.stages) == cfg.train.steps
    # the batch must split over the GPU counts the papers used
    assert cfg.data.batch_size >= 1


@pytest.mark.parametrize("path", RUNS, ids=_id)
def test_run_file_is_its_base_plus_a_strategy(path):
    """A run differs from its base only by its name and strategy."""
    cfg = _load(path)
    base_name, strategy = path.stem.rsplit("_", 1)
    base = _load(EXP / "base" / f"{base_name}.yaml")
    assert cfg.name == path.stem
    assert cfg.strategy.name == strategy
    cfg.name, cfg.strategy = base.name, base.strategy
    assert cfg == base


def test_art_uses_the_papers_tau():
    for path in EXP.glob("*_art.yaml"):
        assert _load(path).strategy.options["tau"] == 3.0, path.name


# ---------------------------------------------------------------- hand conversions to steps

def test_airnet_steps_from_the_official_epochs():
    cfg = _load(EXP / "three_task_airnet_mixed.yaml")
    # utils/dataset_utils.py: __len__ = 400 * len(de_type) = 400 * 5 = 2000 samples per epoch;
    # option.py: batch_size = len(de_type) = 5; drop_last -> 400 steps per epoch
    steps_per_epoch = 2000 // 5
    assert steps_per_epoch == 400
    assert cfg.data.batch_size == 5
    assert cfg.train.steps == 1000 * 400 == 400_000          # epochs = 1000
    encoder_steps = sum(s.steps for s in cfg.train.stages if s.recon_weight == 0.0)
    assert encoder_steps == 100 * 400 == 40_000               # epochs_encoder = 100
    assert cfg.data.views == 2 and cfg.data.patch_size == 128
    assert cfg.model.options["queue_size"] == 5 * 256
    for s in cfg.train.stages:
        if s.recon_weight == 0.0:
            assert s.trainable == ["encoder"] and s.aux_weights == {"contrastive": 1.0}
        else:
            assert s.recon_weight == 1.0 and s.trainable is None
            assert s.aux_weights == {"contrastive": 0.1}


def _airnet_official_lr(epoch: int) -> float:
    """train.py: the lr of epoch e is set at the end of epoch e - 1 (1e-3 for epoch 0)."""
    if epoch == 0:
        return 1e-3
    e = epoch - 1
    if e <= 100:
        return 1e-3 * (0.1 ** (e // 60))
    return 0.0001 * (0.5 ** ((e - 100) // 125))


def test_airnet_lr_matches_the_official_step_decay():
    cfg = _load(EXP / "three_task_airnet_tur.yaml")
    model = models.build("airnet", **models.reduced_options("airnet"))
    stages = resolve_stages(cfg, model)
    for epoch in range(1000):
        for step in (epoch * 400, epoch * 400 + 399):     # first and last step of the epoch
            st = stage_at(stages, step)
            lr = lr_at(step - st.start, base_lr=st.lr, total_steps=st.end - st.start,
                       warmup_steps=0, min_lr=cfg.schedule.min_lr, name=cfg.schedule.name)
            assert lr == pytest.approx(_airnet_official_lr(epoch), rel=1e-12), (epoch, step)
            assert (st.recon_weight == 0.0) == (epoch < 100)
            assert bool(st.frozen) == (epoch < 100)


def test_promptir_steps_from_the_official_epochs():
    cfg = _load(EXP / "three_task_promptir_art.yaml")
    # PromptTrainDataset: 3 noise levels x 3 repeats x 5144 clean (BSD400 + WED),
    # Rain100L 200 x 120, OTS hazy list 72,135 -> one epoch
    epoch = 3 * 3 * 5144 + 200 * 120 + 72135
    assert epoch == 142_431
    per_epoch = epoch // 32                                 # batch 8 x 4 GPUs, drop_last
    assert per_epoch == 4450
    assert cfg.data.batch_size == 32 and cfg.data.patch_size == 128
    assert cfg.train.steps == 120 * 4450 == 534_000
    assert cfg.schedule.warmup_steps == 15 * 4450 == 66_750
    assert cfg.optim.name == "adamw" and cfg.optim.lr == 2e-4
    assert cfg.data.balance == "concat"
    # the official cosine (warm-up 15, max 150 epochs) stopped at epoch 120 ends at
    # 0.5 * 2e-4 * (1 + cos(pi * 105 / 135)); ours ends there too
    official_end = 0.5 * 2e-4 * (1 + math.cos(math.pi * (120 - 15) / (150 - 15)))
    ours_end = lr_at(cfg.train.steps, base_lr=2e-4, total_steps=cfg.train.steps,
                     warmup_steps=cfg.schedule.warmup_steps, min_lr=cfg.schedule.min_lr)
    assert ours_end == pytest.approx(official_end, rel=0.01)


def test_transweather_steps_from_the_official_epochs():
    cfg = _load(EXP / "allweather_transweather_mixed.yaml")
    # allweather.txt 18,069 pairs, batch 18, no drop_last -> ceil -> 1004 steps per epoch
    assert math.ceil(18069 / 18) == 1004
    assert cfg.train.steps == 200 * 1004 == 200_800
    assert cfg.data.batch_size == 18 and cfg.data.patch_size == 256
    assert cfg.data.augment is False
    # adjust_learning_rate: x0.5 at the start of epoch 100
    stages = resolve_stages(cfg, None)
    for epoch in range(200):
        st = stage_at(stages, epoch * 1004)
        assert st.lr == (2e-4 if epoch < 100 else 1e-4)
        assert cfg.schedule.name == "constant"
    (loss,) = cfg.train.extra_losses
    assert loss.name == "perceptual" and loss.weight == 0.04
    assert loss.options["weights"] == "/path/to/vgg16_features.pth"


def test_transweather_art_copy_recipe():
    cfg = _load(EXP / "allweather_transweather_artcopy_tur.yaml")
    assert cfg.model.name == "transweather_art"
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.betas) == ("adamw", 5e-5, [0.9, 0.99])
    assert cfg.data.batch_size == 16 * 2 and cfg.data.patch_size == 128
    assert cfg.train.steps == 600_000 and [s.steps for s in cfg.train.stages] == [200_000] * 3
    assert cfg.train.ema_decay == 0.999 and cfg.train.extra_losses == []


def _cosine_restart(it: int, period: int, lr: float, eta_min: float) -> float:
    """BasicSR CosineAnnealingRestartLR with equal periods and restart weights 1."""
    t = it % period
    return eta_min + 0.5 * (lr - eta_min) * (1 + math.cos(math.pi * t / period))


@pytest.mark.parametrize("name, total, period, opt, wd, eta_min, batch", [
    ("mioir7_srresnet", 2_500_000, 250_000, "adam", 0.0, 1e-7, 16),
    ("mioir7_promptir", 1_000_000, 100_000, "adamw", 0.0, 1e-7, 8),
    ("mioir7_restormer", 1_000_000, 100_000, "adamw", 0.0, 1e-7, 8),
    ("mioir7_uformer", 1_000_000, 100_000, "adamw", 0.02, 1e-6, 8),
])
def test_mioir_recipes(name, total, period, opt, wd, eta_min, batch):
    cfg = _load(EXP / f"{name}_art.yaml")
    assert cfg.train.steps == total == 10 * period
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay) == (opt, 2e-4, wd)
    assert cfg.optim.betas == [0.9, 0.99]
    assert cfg.data.batch_size == batch and cfg.data.patch_size == 128
    assert cfg.train.ema_decay == 0.999
    stages = resolve_stages(cfg, None)
    for it in [0, 1, period // 3, period - 1, period, period + 7, 5 * period + period // 2,
               total - 1]:
        st = stage_at(stages, it)
        lr = lr_at(it - st.start, base_lr=st.lr, total_steps=st.end - st.start,
                   min_lr=cfg.schedule.min_lr, name=cfg.schedule.name)
        assert lr == pytest.approx(_cosine_restart(it, period, 2e-4, eta_min), rel=1e-9), it


# ---------------------------------------------------------------- smoke builds (reduced sizes)

def _pairs():
    seen = {}
    for p in RUNS:
        cfg = _load(p)
        seen.setdefault((cfg.model.name, cfg.strategy.name), p)
    return sorted(seen.items())


@pytest.mark.parametrize("pair, path", _pairs(), ids=lambda v: "-".join(v) if isinstance(v, tuple) else "")
def test_backbone_and_strategy_build_and_give_a_loss(pair, path):
    cfg = _load(path)
    num_tasks = len(settings.get_setting(cfg.data.setting).task_names)
    torch.manual_seed(0)
    model = build.build_model(ModelConfig(cfg.model.name, models.reduced_options(cfg.model.name)))
    strategy = build.build_strategy(cfg.strategy, num_tasks)
    strategy.attach(model)
    x = torch.rand(2, 3, 32, 32)
    task_id = torch.tensor([0, num_tasks - 1])
    pred = model(x)
    out = strategy(pred, x, task_id)
    assert pred.shape == x.shape
    assert torch.isfinite(out.loss)
    out.loss.backward()
    strategy.detach()


# ---------------------------------------------------------------- the recipes added for issue 12

def test_turcode_recipe_is_tur_s_airnet_setup():
    """Aitical/TUR AirNet_uncertainty(fix_E=True, batch_size=32), no contrastive term;
    250 epochs of AirNet's 2000-sample epoch at batch 32 with drop_last."""
    cfg = _load(EXP / "three_task_airnet_turcode_tur.yaml")
    assert cfg.data.batch_size == 32 and cfg.model.options["queue_size"] == 32 * 256
    assert cfg.train.steps == 250 * (2000 // 32) == 15_500
    (stage,) = cfg.train.stages
    assert stage.trainable == ["restorer"] and stage.aux_weights == {"contrastive": 0.0}
    assert stage.recon_weight == 1.0 and stage.lr == 1e-4
    assert cfg.data.balance == "balanced"
    # balanced over the 5 task ids: every task group of a batch holds several samples
    assert cfg.data.batch_size // 5 >= 2
    model = models.build("airnet", **{**models.reduced_options("airnet")})
    stages = resolve_stages(cfg, model)
    encoder = {id(p) for p in model.parameter_groups()["encoder"]}
    assert encoder and encoder <= {id(p) for p in stages[0].frozen}


def test_prompt_configs_wrap_the_mioir_backbones():
    for backbone, sites in (("srresnet", [f"body.{i}" for i in range(16)] + ["conv_hr"]),
                            ("uformer", ["conv"] + [f"decoderlayer_{i}" for i in range(4)])):
        plain = _load(EXP / f"mioir7_{backbone}_mixed.yaml")
        for prompt, kind in (("ep", "explicit"), ("ap", "adaptive")):
            cfg = _load(EXP / f"mioir7_{backbone}_{prompt}_mixed.yaml")
            assert cfg.model.name == "prompted"
            opts = dict(cfg.model.options)
            assert opts.pop("backbone") == backbone and opts.pop("prompt") == kind
            assert opts.pop("prompt_sites") == sites
            assert opts.pop("prompt_tasks", 7) == 7
            if kind == "explicit":  # validation gives each test set its task's prompt
                assert opts.pop("prompt_task_names") == list(resolve_setting(plain).task_names)
            opts.pop("prompt_per_site", None)
            assert opts == plain.model.options  # the backbone's own options, passed through
            cfg.model, cfg.name = plain.model, plain.name
            assert cfg == plain  # same recipe otherwise


@pytest.mark.parametrize("path", SEQUENTIAL, ids=_id)
def test_sequential_configs_follow_the_stage_generator(path):
    """The stage list is sequential_stages(backbone, steps) and the rest is the mixed recipe's."""
    from aioir.config.yaml_io import load_yaml
    from aioir.strategies.sequential import sequential_stages

    raw = load_yaml(path)
    backbone = "srresnet" if "srresnet" in path.stem else "uformer"
    assert raw["train"]["stages"] == sequential_stages(backbone, raw["train"]["steps"])
    mixed = load_yaml(EXP / "base" / f"mioir7_{backbone}.yaml")
    assert raw["train"]["steps"] == mixed["train"]["steps"]
    for key in ("data", "optim", "schedule", "val"):
        assert raw[key] == mixed[key], key
    rest = {k: v for k, v in raw["train"].items() if k != "stages"}
    assert rest == {k: v for k, v in mixed["train"].items() if k != "stages"}
    if "_ep" in path.stem or "_ap" in path.stem:
        assert raw["model"]["name"] == "prompted"
    else:
        assert raw["model"] == mixed["model"]
