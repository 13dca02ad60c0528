"""End to end: a short training on generated trees, and `aioir eval --setting` for an identity
model checked against scikit-image's PSNR on the same pairs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import trees
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from aioir.cli import main
from aioir.config.schema import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    ValConfig,
)


def _config(setting: str, root: Path, balance: str) -> RunConfig:
    return RunConfig(
        name=f"t-{setting}",
        model=ModelConfig(name="tiny_unet", options={"width": 8}),
        data=DataConfig(setting=setting, root=str(root), patch_size=16,
                        batch_size=3, balance=balance),
        optim=OptimConfig(lr=1e-3),
        train=TrainConfig(steps=2, seed=0, device="cpu", threads=1, progress=False,
                          log_every=1, checkpoint_every=2),
        val=ValConfig(enabled=False),
    )


@pytest.mark.parametrize("setting,balance", [("three_task", "concat"), ("five_task", "balanced"),
                                             ("allweather", "balanced")])
def test_short_training(setting: str, balance: str, tmp_path: Path):
    from aioir.engine.run import train

    root = tmp_path / "data"
    trees.BUILDERS[setting](root)
    result = train(_config(setting, root, balance), tmp_path / "run")
    assert result.status == "finished" and result.step == 2
    assert result.checkpoint is not None and result.checkpoint.is_file()
    import torch

    ck = torch.load(result.checkpoint, weights_only=True)
    from aioir.settings import get_setting

    assert list(ck["task_names"]) == list(get_setting(setting).task_names)


def _identity_checkpoint(path: Path, tasks: list[str]) -> Path:
    from aioir import models
    from aioir.inference.export import save_exported

    net = models.build("tiny_unet", width=8)
    return save_exported(net, path, model_name="tiny_unet", options={"width": 8}, tasks=tasks)


def _u8(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_eval_three_task_identity_matches_skimage(tmp_path: Path, capsys):
    root = tmp_path / "data"
    trees.three_task(root)
    ckpt = _identity_checkpoint(tmp_path / "net.safetensors",
                                ["denoise_15", "denoise_25", "denoise_50", "derain", "dehaze"])
    out = tmp_path / "eval"
    rc = main(["eval", str(ckpt), "--setting", "three_task", "--root", str(root), "--out", str(out),
               "--device", "cpu"])
    text = capsys.readouterr()
    assert rc == 0, text.err
    assert "Protocol 'airnet'" in text.out and "warning" not in text.err
    summary = json.loads((out / "eval_three_task_net.json").read_text())
    assert (out / "eval_three_task_net.csv").is_file()

    def expected(pairs: list[tuple[str, str]]) -> float:
        vals = []
        for lq, gt in pairs:
            a, b = _u8(root / lq)[4:36, 4:36], _u8(root / gt)[4:36, 4:36]  # 40 -> 32, centred
            vals.append(peak_signal_noise_ratio(b / 255.0, a / 255.0, data_range=1.0))
        return float(np.mean(vals))

    derain = expected([(f"test/derain/Rain100L/input/{n}", f"test/derain/Rain100L/target/{n}")
                       for n in ("1.png", "2.png")])
    dehaze = expected([("test/dehaze/input/0001_0.8_0.2.png", "test/dehaze/target/0001.png"),
                       ("test/dehaze/input/0005_0.9_0.2.png", "test/dehaze/target/0005.png")])
    per_task = summary["per_task"]
    assert per_task["derain"]["psnr"] == pytest.approx(derain, abs=1e-6)
    assert per_task["dehaze"]["psnr"] == pytest.approx(dehaze, abs=1e-6)
    assert per_task["derain"]["count"] == 2 and per_task["denoise_50"]["count"] == 2
    # identity model: output == degraded input, so the model row equals the input row
    for task, row in per_task.items():
        assert row["psnr"] == pytest.approx(summary["input_per_task"][task]["psnr"], abs=1e-9)
    # noisy inputs: the PSNR of clip(gt + N(0, sigma)) rounded to 8 bits, simulated here with
    # an independent generator on the same clean pixels (clipping makes it differ from
    # 20 log10(255 / sigma)); 6144 noisy values per level keep the difference below 0.3 dB
    rng = np.random.default_rng(12345)
    clean = [_u8(root / f"test/denoise/bsd68/{n}")[4:36, 4:36] / 255.0 for n in ("x.png", "y.png")]
    for sigma in (15, 25, 50):
        sim = []
        for gt in clean:
            noisy = np.round(np.clip(gt * 255 + rng.normal(0, sigma, gt.shape), 0, 255)) / 255
            sim.append(peak_signal_noise_ratio(gt, noisy, data_range=1.0))
        assert per_task[f"denoise_{sigma}"]["psnr"] == pytest.approx(np.mean(sim), abs=0.3)
    mean = np.mean([per_task[t]["psnr"] for t in per_task])
    assert summary["average"]["psnr"] == pytest.approx(mean, abs=1e-9)


def test_eval_daclip_other_tasks_warns_and_lpips_note(tmp_path: Path, capsys):
    root = tmp_path / "data"
    trees.daclip10(root)
    ckpt = _identity_checkpoint(tmp_path / "net.safetensors", ["noise", "rain"])
    out = tmp_path / "eval"
    rc = main(["eval", str(ckpt), "--setting", "daclip10", "--root", str(root), "--out", str(out),
               "--device", "cpu"])
    text = capsys.readouterr()
    assert rc == 0, text.err
    assert "warning: the checkpoint was trained on tasks [noise, rain]" in text.err
    assert "Protocol 'daclip'" in text.out
    if importlib.util.find_spec("lpips") is None:
        assert "LPIPS unavailable" in text.out
    summary = json.loads((out / "eval_daclip10_net.json").read_text())
    for deg in trees.DACLIP:
        lq = _u8(root / f"universal/val/{deg}/LQ/0.png")[4:-4, 4:-4].astype(np.float64)
        gt = _u8(root / f"universal/val/{deg}/GT/0.png")[4:-4, 4:-4].astype(np.float64)
        want = peak_signal_noise_ratio(gt, lq, data_range=255)
        assert summary["per_task"][deg]["psnr"] == pytest.approx(want, abs=1e-6)


def test_eval_missing_test_folder_is_a_clear_error(tmp_path: Path, capsys):
    root = tmp_path / "data"
    trees.mioir7(root)
    import shutil

    shutil.rmtree(root / "CL_test/single_indis/haze")
    ckpt = _identity_checkpoint(tmp_path / "net.safetensors", trees.MIOIR)
    rc = main(["eval", str(ckpt), "--setting", "mioir7", "--root", str(root), "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 2 and "missing folder CL_test/single_indis/haze" in err
