"""The memory planner charges an image by its own size: an 8 x 80000 photo strip (0.64 MP, 1.9
MB as 8-bit RGB) is restored under a 1 GiB budget (it used to be refused as needing 1.84 GiB:
decoding was charged 1024-row bands whatever the height)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from aioir.cli import main
from aioir.inference.restore import io_peaks


def test_decoding_a_short_wide_image_is_charged_its_own_rows():
    h, w = 8, 80_000
    decode, _ = io_peaks(h, w, sample=1, bits=8, file_bytes=0, png16_codec=False)
    # by hand: Pillow's RGBX image 4 B/px + the RGB array 3 B/px + two bands of its 8 rows of
    # 4-byte RGB values
    assert decode == h * w * 4 + h * w * 3 + 2 * h * w * 4 * 3 == 19_840_000


def test_an_8_by_80000_image_restores_within_1_gib(tmp_path, reference, capsys):
    strip = np.random.default_rng(0).integers(0, 256, (8, 80_000, 3), dtype=np.uint8)
    Image.fromarray(strip).save(tmp_path / "strip.png")
    ckpt = reference.run_dir / "checkpoints" / "step_00000008.pt"
    rc = main(["restore", str(ckpt), str(tmp_path / "strip.png"),
               "--out", str(tmp_path / "out"), "--max-memory", "1G", "--device", "cpu"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    with Image.open(tmp_path / "out" / "strip.png") as im:
        assert im.size == (80_000, 8)
