"""Every shipped experiment config trains: `aioir train CONFIG --steps 2` on a tree generated in
its setting's published layout (tests/settings/trees.py), every strategy the configs name, the
config's backbone architecture, stages, views, extra losses and validation as written.

What the test changes, and why (CPU, about a minute for all 24 configs on 2 cores):

* ``--steps 2`` scales every stage; a config with ``K`` stages runs ``max(2, K)`` steps (each
  stage at least one step: AirNet's encoder-only stages and its joint stages both run);
* ``data.patch_size`` 16 (every backbone pads internally: TransWeather to its 48 px minimum,
  Uformer to its pad multiple), ``data.batch_size`` = the number of tasks (views kept: AirNet's
  two crops of each degraded image), ``data.num_workers`` 0;
* ``model.options``: the backbones whose published size is too slow for a CPU test run with
  their reduced widths and depths (``aioir.models.reduced_options``: the same code, smaller
  numbers). Their published sizes are proven parameter by parameter against the authors'
  releases elsewhere: ``tests/models/test_airnet.py``, ``test_promptir.py``,
  ``test_restormer.py``, ``test_uformer.py``, ``test_transweather.py`` (manifests in
  ``tests/models/manifests``). SRResNet (1.5 M parameters) runs at its published size here;
* ``val.every`` 0: the runs validate once, at the end, on the setting's test sets;
* TransWeather's perceptual loss gets a VGG16 features file with random weights (the config
  points at a placeholder path; nothing is downloaded).

The AirNet configs are the regression test of issue 10: a paired source (Rain100L, RESIDE) must
provide ``lq_views``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "settings"))
import trees

from aioir import models
from aioir.cli import main
from aioir.config import load_config
from aioir.config.schema import RunConfig
from aioir.settings import get_setting

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "configs" / "experiments"
RUNS = sorted(EXP.glob("*.yaml"))

#: backbones run at their published size in this test (the others: reduced options, see above)
FULL_SIZE = {"srresnet"}


def _vgg_weights(path: Path) -> Path:
    """A torchvision-layout VGG16 features state dict with random weights."""
    shapes = [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256)]
    g = torch.Generator().manual_seed(0)
    sd = {}
    for i, (o, c) in zip([0, 2, 5, 7, 10, 12, 14], shapes):
        sd[f"features.{i}.weight"] = torch.randn(o, c, 3, 3, generator=g) * 0.05
        sd[f"features.{i}.bias"] = torch.zeros(o)
    torch.save(sd, path)
    return path


@pytest.fixture(scope="module")
def trees_root(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("trees")
    out = {}
    for setting in {load_config(RunConfig, p).data.setting for p in RUNS}:
        trees.BUILDERS[setting](base / setting)
        out[setting] = base / setting
    return out


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", RUNS, ids=lambda p: p.stem)
def test_experiment_config_trains_two_steps(path: Path, trees_root, tmp_path: Path):
    cfg = load_config(RunConfig, path)
    tasks = get_setting(cfg.data.setting).task_names
    sets = [f"data.root={trees_root[cfg.data.setting]}", "data.patch_size=16",
            f"data.batch_size={len(tasks)}", "data.num_workers=0", "train.device=cpu",
            "train.progress=false", "train.threads=1", "val.every=0"]
    if cfg.model.name not in FULL_SIZE:
        sets.append(f"model.options={json.dumps(models.reduced_options(cfg.model.name))}")
    if cfg.train.extra_losses:
        from aioir.config import to_dict

        losses = [to_dict(loss) for loss in cfg.train.extra_losses]
        for loss in losses:
            if "weights" in loss["options"]:
                loss["options"]["weights"] = str(_vgg_weights(tmp_path / "vgg16.pt"))
        sets.append(f"train.extra_losses={json.dumps(losses)}")
    run = tmp_path / "run"
    argv = ["train", str(path), "--steps", "2", "--out", str(run)]
    for item in sets:
        argv += ["--set", item]
    assert main(argv) == 0
    stages = max(2, len(cfg.train.stages))
    resolved = load_config(RunConfig, run / "config.yaml")
    assert resolved.train.steps == stages and resolved.strategy == cfg.strategy
    assert (run / "checkpoints" / f"step_{stages:08d}.pt").is_file()
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in logged if "loss" in r]
    assert [r["step"] for r in trained] == list(range(1, stages + 1))
    val = [r for r in logged if "val" in r]  # the setting's test sets, validated at the end
    assert val and set(val[-1]["val"]) == set(get_setting(cfg.data.setting).columns())
