"""``aioir degrade`` end to end on a small temporary folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import aioir
from aioir.cli import main


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    src = tmp_path / "clean"
    (src / "sub").mkdir(parents=True)
    Image.fromarray((rng.random((17, 23, 3)) * 255).astype(np.uint8)).save(src / "a.png")
    Image.fromarray((rng.random((9, 5)) * 255).astype(np.uint8)).save(src / "sub" / "b.jpg")  # grey JPEG
    rgba = (rng.random((12, 10, 4)) * 255).astype(np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(src / "sub" / "c.png")
    (src / "notes.txt").write_text("not an image")
    return src


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_writes_pngs_and_sidecar(folder: Path, tmp_path: Path):
    out = tmp_path / "noisy"
    assert main(["degrade", "--task", "noise", "--input", str(folder), "--output", str(out), "--seed", "5"]) == 0
    files = _files(out)
    assert set(files) == {"a.png", "sub/b.png", "sub/c.png", "params.json"}
    for name, size in [("a.png", (23, 17)), ("sub/b.png", (5, 9)), ("sub/c.png", (10, 12))]:
        with Image.open(out / name) as im:
            assert im.mode == "RGB" and im.size == size
    meta = json.loads(files["params.json"])
    assert meta["task"] == "noise" and meta["dist"] == "in" and meta["seed"] == 5
    assert meta["aioir_version"] == aioir.__version__ and meta["bits"] == 8
    assert meta["images"]["sub/b.png"]["source"] == "sub/b.jpg"
    for rec in meta["images"].values():
        assert 15 <= rec["params"]["sigma"] <= 50


def test_noise_matches_recorded_sigma(tmp_path: Path):
    src = tmp_path / "grey"
    src.mkdir()
    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(src / "g.png")
    out = tmp_path / "o"
    assert main(["degrade", "--task", "noise", "--input", str(src), "--output", str(out)]) == 0
    sigma = json.loads((out / "params.json").read_text())["images"]["g.png"]["params"]["sigma"]
    noisy = np.asarray(Image.open(out / "g.png"), np.float64)
    # 8-bit rounding adds variance 1/12 (in 0-255 units); clipping at 128/sigma >= 2.5 std is negligible.
    measured = np.sqrt(noisy.var() - 1 / 12)
    assert abs(measured / sigma - 1) < 0.04


def test_same_seed_byte_identical_and_order_independent(folder: Path, tmp_path: Path):
    args = ["degrade", "--task", "rain", "--input", str(folder), "--seed", "3", "--dist", "out"]
    assert main(args + ["--output", str(tmp_path / "r1")]) == 0
    assert main(args + ["--output", str(tmp_path / "r2")]) == 0
    first = _files(tmp_path / "r1")
    assert first == _files(tmp_path / "r2")
    # One file alone in another folder (same relative name) gets the same bytes.
    alone = tmp_path / "alone"
    (alone / "sub").mkdir(parents=True)
    shutil.copy(folder / "sub" / "c.png", alone / "sub" / "c.png")
    assert main(args[:4] + [str(alone)] + args[5:] + ["--output", str(tmp_path / "r3")]) == 0
    assert _files(tmp_path / "r3")["sub/c.png"] == first["sub/c.png"]
    # A different seed changes the output.
    assert main(args[:-3] + ["4", "--dist", "out", "--output", str(tmp_path / "r4")]) == 0
    assert _files(tmp_path / "r4")["a.png"] != first["a.png"]
    values = [r["params"]["value"] for r in json.loads(first["params.json"])["images"].values()]
    assert all(100 <= v <= 149 for v in values)


def test_fixed_param_and_dark_values(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    levels = np.arange(0, 256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(np.stack([levels] * 3, -1)).save(src / "ramp.png")
    out = tmp_path / "out"
    assert main(["degrade", "--task", "dark", "--input", str(src), "--output", str(out), "--param", "gamma=2"]) == 0
    meta = json.loads((out / "params.json").read_text())
    assert meta["fixed"] == {"gamma": 2} and meta["images"]["ramp.png"]["params"] == {"gamma": 2}
    got = np.asarray(Image.open(out / "ramp.png"))[..., 0].astype(int)
    np.testing.assert_array_equal(got, np.round(255 * (levels / 255.0) ** 2).astype(int))


def test_no_quantize_writes_16_bit(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.full((6, 7, 3), 200, np.uint8)).save(src / "x.png")
    out = tmp_path / "out"
    assert main(["degrade", "--task", "dark", "--input", str(src), "--output", str(out),
                 "--param", "gamma=1.5", "--no-quantize"]) == 0
    with open(out / "x.png", "rb") as fh:
        header = fh.read(26)
    assert header[24] == 16  # PNG IHDR bit depth
    assert json.loads((out / "params.json").read_text())["bits"] == 16


def test_haze_with_depth_folder(tmp_path: Path):
    src, depth = tmp_path / "in", tmp_path / "depth"
    src.mkdir()
    depth.mkdir()
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(src / "x.png")
    np.save(depth / "x.npy", np.tile(np.linspace(1, 4, 6), (4, 1)))
    out = tmp_path / "out"
    assert main(["degrade", "--task", "haze", "--input", str(src), "--output", str(out), "--depth", str(depth),
                 "--param", "beta=1", "--param", "airlight=1"]) == 0
    got = np.asarray(Image.open(out / "x.png"))[0, :, 0]
    expected = np.round(255 * (1 - np.exp(-np.linspace(1, 4, 6) / 4)))  # black scene: I = A (1 - T)
    np.testing.assert_array_equal(got, expected)
    assert json.loads((out / "params.json").read_text())["images"]["x.png"]["params"]["depth"] == "given"


@pytest.mark.parametrize("extra,msg", [
    (["--task", "nosie"], "did you mean 'noise'"),
    (["--task", "noise", "--param", "sigm=3"], "did you mean 'sigma'"),
    (["--task", "noise", "--param", "sigma"], "KEY=VALUE"),
    (["--task", "blur", "--param", "kernel_size=8"], "odd"),
    (["--task", "noise", "--seed", "-1"], "non-negative"),
])
def test_user_errors(folder: Path, tmp_path: Path, capsys, extra, msg):
    assert main(["degrade", "--input", str(folder), "--output", str(tmp_path / "o"), *extra]) == 2
    assert msg in capsys.readouterr().err


def test_empty_folder(tmp_path: Path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["degrade", "--task", "noise", "--input", str(tmp_path / "empty"),
                 "--output", str(tmp_path / "o")]) == 2
    assert "no images" in capsys.readouterr().err


# --- outputs are checked (shared with restore: aioir.commands._batch) -------------------------

def test_output_equal_to_input_is_refused(folder: Path, capsys):
    before = _files(folder)
    assert main(["degrade", "--task", "noise", "--input", str(folder), "--output", str(folder)]) == 2
    assert "is the input folder" in capsys.readouterr().err
    assert _files(folder) == before


def test_existing_outputs_are_kept_without_overwrite(folder: Path, tmp_path: Path, capsys):
    out = tmp_path / "o"
    args = ["degrade", "--task", "noise", "--input", str(folder), "--output", str(out)]
    assert main(args) == 0
    first = _files(out)
    assert main(args + ["--seed", "9"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _files(out) == first
    assert main(args + ["--seed", "9", "--overwrite"]) == 0
    assert _files(out)["a.png"] != first["a.png"]


def test_input_may_be_one_file(folder: Path, tmp_path: Path):
    """``--input FILE`` degrades that file, named by its file name, with the bytes it gets as
    the same name at the root of a folder (the generator depends on the name only)."""
    out = tmp_path / "one"
    assert main(["degrade", "--task", "noise", "--input", str(folder / "a.png"), "--output", str(out)]) == 0
    assert set(_files(out)) == {"a.png", "params.json"}
    whole = tmp_path / "whole"
    assert main(["degrade", "--task", "noise", "--input", str(folder), "--output", str(whole)]) == 0
    assert _files(out)["a.png"] == _files(whole)["a.png"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_follow_the_umask(folder: Path, tmp_path: Path, umask: int):
    import os

    old = os.umask(umask)
    try:
        assert main(["degrade", "--task", "noise", "--input", str(folder), "--output", str(tmp_path / "o")]) == 0
    finally:
        os.umask(old)
    for name in ("a.png", "params.json"):
        assert (tmp_path / "o" / name).stat().st_mode & 0o777 == 0o666 & ~umask
