"""``aioir data check``: a clean tree passes with the counts written, each kind of damage fails
with the file or folder named."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "settings"))
import trees

from aioir.cli import main


def _run(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["data", "check", *argv])
    return rc, capsys.readouterr().out


def _count_cell(out: str, split: str, task: str) -> int:
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 4 and cells[0] == split and cells[1] == task:
            return int(cells[3])
    raise AssertionError(f"no row {split}/{task} in\n{out}")


def test_clean_tree_exit_0_and_counts(tmp_path: Path, capsys):
    expected = trees.three_task(tmp_path)
    rc, out = _run(capsys, "three_task", "--root", str(tmp_path))
    assert rc == 0, out
    assert "OK" in out
    for split in ("train", "test"):
        for task, n in expected[split].items():
            assert _count_cell(out, split, task) == n


def test_missing_gt_is_named(tmp_path: Path, capsys):
    trees.three_task(tmp_path)
    (tmp_path / "Train/Derain/gt/norain-2.png").unlink()
    rc, out = _run(capsys, "three_task", "--root", str(tmp_path))
    assert rc == 1
    assert "missing GT for Train/Derain/rainy/rain-2.png" in out
    assert _count_cell(out, "train", "derain") == 1


def test_size_mismatch_is_named(tmp_path: Path, capsys):
    trees.three_task(tmp_path)
    trees.write(tmp_path / "test/derain/Rain100L/target/2.png", 7, size=(36, 40))
    rc, out = _run(capsys, "three_task", "--root", str(tmp_path))
    assert rc == 1
    assert "size mismatch" in out and "test/derain/Rain100L/target/2.png is 36x40" in out


def test_unreadable_file_is_named(tmp_path: Path, capsys):
    trees.three_task(tmp_path)
    (tmp_path / "Train/Denoise/b.png").write_bytes(b"this is not a png")
    rc, out = _run(capsys, "three_task", "--root", str(tmp_path))
    assert rc == 1
    assert "unreadable Train/Denoise/b.png" in out
    assert _count_cell(out, "train", "denoise_15") == 2


def test_truncated_jpeg_found_by_decode(tmp_path: Path, capsys):
    trees.three_task(tmp_path)
    path = tmp_path / "Train/Denoise/sub/c.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])  # header intact, scan data cut
    with Image.open(path) as im:
        assert im.size == (40, 40)  # the header alone still reads
    rc, out = _run(capsys, "three_task", "--root", str(tmp_path), "--sample", "0")
    assert rc == 0, out  # headers only: not detected
    rc, out = _run(capsys, "three_task", "--root", str(tmp_path), "--decode")
    assert rc == 1 and "undecodable Train/Denoise/sub/c.jpg" in out


def test_missing_folder_names_expected_path(tmp_path: Path, capsys):
    trees.three_task(tmp_path)
    shutil.rmtree(tmp_path / "test/dehaze")
    rc, out = _run(capsys, "three_task", "--root", str(tmp_path))
    assert rc == 1
    assert "missing folder test/dehaze/input" in out and "missing folder test/dehaze/target" in out


def test_list_layout_missing_partner(tmp_path: Path, capsys):
    trees.allweather(tmp_path)
    (tmp_path / "train/allweather/gt/3_rain.png").unlink()
    rc, out = _run(capsys, "allweather", "--root", str(tmp_path))
    assert rc == 1 and "missing file train/allweather/gt/3_rain.png" in out
    assert np.isclose(_count_cell(out, "train", "snow"), 2)
