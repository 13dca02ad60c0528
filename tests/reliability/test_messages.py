"""Mistakes end in one line naming the file, key or value and what to do; bugs keep their
traceback: a decompression bomb in ``data check`` / ``eval``, ``device: cuda`` without CUDA,
a test image smaller than the protocol can measure, a bug in a command."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch

from aioir.cli import main
from aioir.data.io import write_image

SETTING = """\
name: tiny
tasks: [noise]
crop_multiple: {multiple}
train:
  - {{task: noise, kind: synthetic, clean: "embedded:train"}}
test:
  - {{task: noise, kind: paired, lq: test/lq, gt: test/gt}}
"""


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` pixels in a few bytes (a decompression bomb's
    header; its pixel data is missing, which a reader that decodes before checking finds only
    after allocating the image)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def _tree(root, multiple: int = 1, extra: dict[str, bytes] | None = None):
    """A one-test-set setting under ``root``: 32 x 32 pairs, plus ``extra`` raw files."""
    rng = np.random.default_rng(0)
    for side in ("lq", "gt"):
        write_image(root / "test" / side / "a.png", rng.random((32, 32, 3)))
        for name, data in (extra or {}).items():
            (root / "test" / side / name).write_bytes(data)
    path = root / "setting.yaml"
    path.write_text(SETTING.format(multiple=multiple))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from aioir.config.schema import DataConfig, ModelConfig, RunConfig, TrainConfig, ValConfig
    from aioir.engine.run import train

    cfg = RunConfig(model=ModelConfig(options={"width": 8}),
                    data=DataConfig(tasks=["noise"], patch_size=16, batch_size=2),
                    train=TrainConfig(steps=1, device="cpu", progress=False, threads=1),
                    val=ValConfig(enabled=False))
    run = tmp_path_factory.mktemp("messages") / "run"
    return train(cfg, run).checkpoint


def _one_line(err: str, command: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("aioir ")]
    assert len(lines) == 1 and lines[0].startswith(f"aioir {command}: error: "), err
    return lines[0]


def _error(err: str, command: str) -> str:
    """An error that lists problems under its first line (a data set with bad files)."""
    assert "Traceback" not in err, err
    assert err.startswith(f"aioir {command}: error: "), err
    return err


@pytest.mark.parametrize("width, height", [(12000, 12000), (100000, 100000)],
                         ids=["above-pillow-warning", "above-pillow-error"])
def test_a_decompression_bomb_is_named_with_the_limit(tmp_path, checkpoint, capsys, width,
                                                      height):
    bomb = {"bomb.png": _png_header(width, height)}
    setting = _tree(tmp_path, extra=bomb)
    hint = (f"{width} x {height} = {width * height:,} pixels is above the limit of 89,478,485 "
            f"pixels")
    raise_it = f"raise the limit with AIOIR_MAX_IMAGE_PIXELS={width * height}"

    assert main(["data", "check", str(setting), "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"test/lq/bomb.png: {hint}" in out and raise_it in out, out

    rc = main(["eval", str(checkpoint), "--setting", str(setting), "--root", str(tmp_path),
               "--out", str(tmp_path / "out")])
    err = _error(capsys.readouterr().err, "eval")
    assert rc == 2 and f"test/lq/bomb.png: {hint}" in err and raise_it in err, err


def test_the_pixel_limit_can_be_raised_and_lowered(tmp_path, checkpoint, capsys, monkeypatch):
    setting = _tree(tmp_path)
    monkeypatch.setenv("AIOIR_MAX_IMAGE_PIXELS", "1000")  # the 32 x 32 test image: 1024 pixels
    rc = main(["eval", str(checkpoint), "--setting", str(setting), "--root", str(tmp_path),
               "--out", str(tmp_path / "out")])
    err = _error(capsys.readouterr().err, "eval")
    assert rc == 2 and "32 x 32 = 1,024 pixels is above the limit of 1,000 pixels" in err
    monkeypatch.setenv("AIOIR_MAX_IMAGE_PIXELS", "1024")
    assert main(["eval", str(checkpoint), "--setting", str(setting), "--root", str(tmp_path),
                 "--out", str(tmp_path / "out")]) == 0


@pytest.mark.parametrize("multiple, message", [
    (1, "test image test/lq/b.png (noise) is 1 x 1 px: too small to measure; protocol 'mioir' "
        "needs at least 19 x 19 px (a 4-px border crop on each side + SSIM's 11 x 11 window)"),
    (8, "test image test/lq/b.png (noise): image 1x1 is smaller than the multiple 8"),
])
def test_a_one_pixel_test_image_is_named(tmp_path, checkpoint, capsys, multiple, message):
    one = tmp_path / "one.png"
    write_image(one, np.ones((1, 1, 3)))
    setting = _tree(tmp_path, multiple, {"b.png": one.read_bytes()})
    rc = main(["eval", str(checkpoint), "--setting", str(setting), "--root", str(tmp_path),
               "--out", str(tmp_path / "out")])
    line = _one_line(capsys.readouterr().err, "eval")
    assert rc == 2 and message in line, line


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_names_the_key(tmp_path, checkpoint, capsys):
    from aioir.config import dump_yaml
    from aioir.config.schema import RunConfig

    cfg_path = tmp_path / "cfg.yaml"
    dump_yaml(RunConfig(), cfg_path)
    rc = main(["train", str(cfg_path), "--set", "train.device=cuda", "--out",
               str(tmp_path / "run")])
    line = _one_line(capsys.readouterr().err, "train")
    assert (rc == 2 and line.endswith("train.device: 'cuda' asks for a CUDA GPU, but this torch "
                                     "build has no CUDA support; set train.device to auto or "
                                     "cpu")) or "no CUDA GPU is visible" in line, line
    assert not (tmp_path / "run").exists()
    rc = main(["eval", str(checkpoint), "--device", "cuda:1"])
    line = _one_line(capsys.readouterr().err, "eval")
    assert rc == 2 and "--device: 'cuda:1' asks for a CUDA GPU" in line, line


def test_a_bug_keeps_its_traceback(monkeypatch):
    import aioir.commands.data as data_command

    def buggy(args):
        raise TypeError("a bug in aioir")

    monkeypatch.setattr(data_command, "run", buggy)
    with pytest.raises(TypeError, match="a bug in aioir"):
        main(["data", "list"])


def test_aioir_debug_shows_every_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("AIOIR_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(["eval", str(tmp_path / "missing.pt")])
