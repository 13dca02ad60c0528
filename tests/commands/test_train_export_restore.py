"""The CLI end to end: train (with --set), export the plain backbone, restore, eval."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from aioir import models
from aioir.checkpoint import latest_checkpoint, load_checkpoint
from aioir.cli import main
from aioir.config import dump_yaml


@pytest.fixture
def trained(tmp_path, make_config):
    cfg = make_config("tur", steps=3, checkpoint_every=3)
    cfg.val.enabled = True
    cfg.val.max_size = 32
    path = tmp_path / "cfg.yaml"
    dump_yaml(cfg, path)
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run), "--set", "train.steps=4",
                 "--set", "optim.lr=2e-3"]) == 0
    return run


def test_train_writes_a_complete_run_folder(trained):
    resolved = yaml.safe_load((trained / "config.yaml").read_text())
    assert resolved["train"]["steps"] == 4 and resolved["optim"]["lr"] == 2e-3
    env = json.loads((trained / "environment.json").read_text())
    assert env["torch"] == torch.__version__
    steps = [json.loads(line)["step"] for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert steps[0] == 1 and steps[-1] == 4
    assert latest_checkpoint(trained / "checkpoints").name == "step_00000004.pt"
    assert (trained / "eval" / "step_00000004.json").is_file()


def test_export_is_the_plain_backbone_with_the_ema_weights(trained, tmp_path):
    ck_path = latest_checkpoint(trained / "checkpoints")
    out = tmp_path / "net.safetensors"
    assert main(["export", str(ck_path), "--out", str(out)]) == 0
    from safetensors.torch import load_file

    exported = load_file(str(out))
    ck = load_checkpoint(ck_path)
    plain = models.build("tiny_unet", width=8)
    assert set(exported) == set(plain.state_dict())  # no uncertainty head, nothing extra
    for k, v in ck["ema"].items():
        assert torch.equal(exported[k], v), k
    # the exported network computes what the training run's EMA network computes
    plain.load_state_dict(ck["ema"])
    x = torch.rand(1, 3, 21, 30)
    back = models.build("tiny_unet", width=8)
    back.load_state_dict(exported)
    assert torch.equal(plain.eval()(x), back.eval()(x))


def test_restore_folder_writes_the_model_output(trained, tmp_path):
    ck = load_checkpoint(latest_checkpoint(trained / "checkpoints"))
    net = models.build("tiny_unet", width=8)
    net.load_state_dict(ck["ema"])
    src = tmp_path / "in" / "sub"
    src.mkdir(parents=True)
    img = np.random.default_rng(0).integers(0, 256, (23, 31, 3), dtype=np.uint8)
    Image.fromarray(img).save(src / "a.jpg", quality=95)
    (src / "broken.png").write_bytes(b"not an image")
    rc = main(["restore", str(latest_checkpoint(trained / "checkpoints")), str(tmp_path / "in"),
               "--out", str(tmp_path / "out")])
    assert rc == 1  # one unreadable file is reported, the rest restored
    got = np.asarray(Image.open(tmp_path / "out" / "sub" / "a.png"))
    x = torch.from_numpy(np.asarray(Image.open(src / "a.jpg").convert("RGB"), np.float32) / 255)
    with torch.no_grad():
        y = net.eval()(x.permute(2, 0, 1)[None]).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(got, np.round(y * 255).astype(np.uint8))
    # --tile runs through the same path (tiling's exactness is tested in tests/models/test_tiling.py)
    assert main(["restore", str(latest_checkpoint(trained / "checkpoints")), str(src / "a.jpg"),
                 "--out", str(tmp_path / "tiled"), "--tile", "16", "--overlap", "8"]) == 0
    assert np.asarray(Image.open(tmp_path / "tiled" / "a.png")).shape == got.shape


def test_eval_prints_the_per_task_table(trained, capsys):
    assert main(["eval", str(latest_checkpoint(trained / "checkpoints"))]) == 0
    text = capsys.readouterr().out
    for task in ("noise", "dark", "jpeg", "Average"):
        assert task in text


def test_eval_measures_what_validation_measured(trained):
    """`aioir eval CKPT` and the Trainer's validation are one evaluation: the same sets, the
    same numbers for the same weights."""
    ckpt = latest_checkpoint(trained / "checkpoints")
    step = int(ckpt.stem.split("_")[1])
    during = json.loads((trained / "eval" / f"step_{step:08d}.json").read_text())
    assert main(["eval", str(ckpt), "--out", str(trained / "again")]) == 0
    after = json.loads((trained / "again" / f"eval_{ckpt.stem}.json").read_text())
    assert list(after["per_task"]) == list(during["per_task"]) == ["noise", "dark", "jpeg"]
    for task, row in during["per_task"].items():
        assert after["per_task"][task]["psnr"] == pytest.approx(row["psnr"], abs=1e-9)
        assert after["per_task"][task]["count"] == row["count"] == 3
