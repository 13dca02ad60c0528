"""``aioir eval --tile``: a tiled image that takes long shows its windows as they are restored
(issue 22: one slow image held the bar still for 20-30 s). The display waits
``TILE_DISPLAY_DELAY`` seconds so that quick images print nothing; the test sets it to 0 and
asserts what is shown (lines: one per 25 % of the windows), never how fast."""

from __future__ import annotations

import re

import numpy as np

from aioir import models
from aioir.cli import main
from aioir.commands import eval as eval_command
from aioir.data.io import write_image
from aioir.inference.export import save_exported


def _eval(tmp_path, monkeypatch, *tiling: str) -> int:
    """``aioir eval`` of a tiny network on one 200 x 260 photo, windows shown at once."""
    net = models.build("tiny_unet", width=8)
    ckpt = save_exported(net, tmp_path / "net.safetensors", model_name="tiny_unet",
                         options={"width": 8}, tasks=["noise"])
    photos = tmp_path / "photos"
    write_image(photos / "a.png", np.random.default_rng(0).random((200, 260, 3)))
    monkeypatch.setenv("AIOIR_PROGRESS", "lines")
    monkeypatch.setattr(eval_command, "TILE_DISPLAY_DELAY", 0.0)
    return main(["eval", str(ckpt), "--photos", str(photos), *tiling,
                 "--out", str(tmp_path / "out")])


def test_eval_of_a_tiled_photo_counts_its_windows(tmp_path, monkeypatch, capsys):
    # 200 x 260 in windows of 96 overlapping by 16: a stride of 80, ceil((200 - 16) / 80) = 3
    # rows by ceil((260 - 16) / 80) = 4 columns, 12 windows, told a row (4) at a time
    rc = _eval(tmp_path, monkeypatch, "--tile", "96", "--overlap", "16")
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    shown = [tuple(map(int, m.groups())) for line in captured.err.splitlines()
             if (m := re.match(r"\s*tiles of this image:\s+\d+% (\d+)/(\d+) ", line))]
    assert shown == [(4, 12), (8, 12), (12, 12)], captured.err


def test_a_whole_image_has_no_window_display(tmp_path, monkeypatch, capsys):
    rc = _eval(tmp_path, monkeypatch, "--tile", "300")  # one window: restored whole
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "tiles of this image" not in captured.err + captured.out
