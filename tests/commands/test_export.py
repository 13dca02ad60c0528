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


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_export_follows_the_umask(source, tmp_path, umask):
    old = os.umask(umask)
    try:
        assert main(["export", str(source), "--out", str(tmp_path / "n.safetensors")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "n.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


