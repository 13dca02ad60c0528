"""``aioir export``: formats, --check on the command line, and no user file replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from aioir import models
from aioir.cli import main
from aioir.inference.export import save_exported


@pytest.fixture
def source(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = models.build("srresnet", **models.reduced_options("srresnet"))
    return save_exported(net, tmp_path / "src.safetensors", model_name="srresnet",
                         options=models.reduced_options("srresnet"), tasks=["noise"])


def test_existing_file_is_not_replaced(source, tmp_path, capsys):
    target = tmp_path / "existing.safetensors"
    target.write_bytes(b"the user's file")
    assert main(["export", str(source), "--out", str(target)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"the user's file"
    assert main(["export", str(source), "--out", str(target), "--overwrite"]) == 0
    assert target.read_bytes() != b"the user's file"


def test_out_with_another_extension_is_refused(source, tmp_path, capsys):
    """``--out existing.png`` (issue 16): refused by its extension before anything is written."""
    png = tmp_path / "existing.png"
    png.write_bytes(b"a photo")
    assert main(["export", str(source), "--out", str(png)]) == 2
    assert "is written to a .safetensors file" in capsys.readouterr().err
    assert main(["export", str(source), "--out", str(png), "--overwrite"]) == 2
    assert png.read_bytes() == b"a photo"


@pytest.mark.parametrize("fmt,ext", [("torchscript", ".ts"), ("onnx", ".onnx")])
def test_check_prints_the_difference_and_tolerance(source, tmp_path, capsys, fmt, ext):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    out = tmp_path / f"net{ext}"
    assert main(["export", str(source), "--out", str(out), "--format", fmt, "--check"]) == 0
    text = capsys.readouterr().out
    assert f"{fmt} check passed: max |exported - PyTorch| = " in text
    assert "(tolerance 1e-04) on inputs 1x3x128x160, 2x3x45x61, 1x3x97x50" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["src.safetensors", out.name])


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_export_follows_the_umask(source, tmp_path, umask):
    old = os.umask(umask)
    try:
        assert main(["export", str(source), "--out", str(tmp_path / "n.safetensors")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "n.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


def test_graph_files_are_not_restore_inputs(source, tmp_path, capsys):
    out = tmp_path / "net.ts"
    assert main(["export", str(source), "--out", str(out), "--format", "torchscript"]) == 0
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "x.png")
    assert main(["restore", str(out), str(tmp_path / "x.png"), "--out", str(tmp_path / "r")]) == 2
    assert "graph for other runtimes" in capsys.readouterr().err


@pytest.mark.parametrize("fmt,ext", [("torchscript", ".ts"), ("onnx", ".onnx")])
def test_a_training_checkpoint_of_the_demo_network_round_trips(tur_checkpoint, tmp_path, capsys,
                                                               fmt, ext):
    """From a real run's .pt (tiny_unet with its global tone head, TUR): the plain backbone with
    the EMA weights, checked against PyTorch."""
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    out = tmp_path / f"demo{ext}"
    assert main(["export", str(tur_checkpoint), "--out", str(out), "--format", fmt,
                 "--check"]) == 0
    text = capsys.readouterr().out
    assert "(onnx" in text or "(torchscript" in text
    assert "tiny_unet, ema weights" in text and "check passed" in text
