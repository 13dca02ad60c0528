"""``aioir restore``: no user file is lost, bad images are skipped by name, outputs keep the
input's bit depth and metadata, and any image size fits a memory budget."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms, ImageOps

from aioir import models
from aioir.cli import main
from aioir.inference.export import save_exported


def _export(path: Path, perturb: bool = False) -> Path:
    """tiny_unet (identity at initialisation, or with every weight perturbed) as an export."""
    torch.manual_seed(0)
    opts = {"width": 8, "global_tone": True}
    net = models.build("tiny_unet", **opts)
    if perturb:
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p) * 0.05)
    return save_exported(net, path, model_name="tiny_unet", options=opts, tasks=["noise"])


@pytest.fixture
def identity(tmp_path: Path) -> Path:
    return _export(tmp_path / "identity.safetensors")


def _rgb(path: Path, h: int = 19, w: int = 23, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(a).save(path)
    return a


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- data loss (issue 16, items 1, 2, 3) ------------------------------------------------------

def test_out_equal_to_the_input_folder_is_refused_and_originals_kept(identity, tmp_path, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    _rgb(src / "a.png")
    before = _tree(src)
    assert main(["restore", str(identity), str(src), "--out", str(src)]) == 2
    assert "is the input folder" in capsys.readouterr().err
    assert _tree(src) == before


def test_an_input_file_is_never_replaced_by_its_output(identity, tmp_path, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    _rgb(src / "a.png")
    before = _tree(src)
    assert main(["restore", str(identity), str(src / "a.png"), "--out", str(src),
                 "--overwrite"]) == 2
    assert "would replace the input" in capsys.readouterr().err
    assert _tree(src) == before


def test_two_inputs_with_one_output_name_are_refused(identity, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _rgb(src / "a.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src / "a.jpg")
    assert main(["restore", str(identity), str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "a.jpg and a.png would both be written as a.png" in err
    assert not (tmp_path / "out").exists()
    # the same relative name in two input folders
    other = tmp_path / "other"
    other.mkdir()
    _rgb(other / "a.png", seed=1)
    (src / "a.jpg").unlink()
    assert main(["restore", str(identity), str(src), str(other),
                 "--out", str(tmp_path / "o2")]) == 2
    assert "would both be written as a.png" in capsys.readouterr().err


def test_count_is_the_number_of_files_restored(identity, tmp_path, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    _rgb(src / "a.png")
    _rgb(src / "sub" / "b.jpg", seed=2)
    (src / "broken.png").write_bytes(b"not an image")
    assert main(["restore", str(identity), str(src), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "restored 2 of 3 image(s)" in out
    assert f"skipped: cannot read image {src / 'broken.png'}" in out
    assert set(_tree(tmp_path / "out")) == {"a.png", "sub/b.png"}


def test_out_inside_the_input_is_not_read_back(identity, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _rgb(src / "a.png")
    out = src / "restored"
    assert main(["restore", str(identity), str(src), "--out", str(out)]) == 0
    # a second run into the same folder: its outputs are not inputs, and are not replaced
    assert main(["restore", str(identity), str(src), "--out", str(out)]) == 2
    assert "already exist" in capsys.readouterr().err
    assert not (out / "restored").exists()
    assert main(["restore", str(identity), str(src), "--out", str(out), "--overwrite"]) == 0
    assert not (out / "restored").exists()
    assert "1 image(s) inside the output folder" in capsys.readouterr().out
    assert set(_tree(src)) == {"a.png", "restored/a.png"}


def test_existing_outputs_are_kept_without_overwrite(identity, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    _rgb(src / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"the user's own file")
    assert main(["restore", str(identity), str(src), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "a.png").read_bytes() == b"the user's own file"


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_outputs_follow_the_umask(identity, tmp_path, umask):
    src = tmp_path / "in"
    src.mkdir()
    _rgb(src / "a.png")
    old = os.umask(umask)
    try:
        assert main(["restore", str(identity), str(src), "--out", str(tmp_path / "out")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "out" / "a.png").stat().st_mode & 0o777 == 0o666 & ~umask


# --- results ------------------------------------------------------------------------------------

def test_result_is_the_network_output(tmp_path):
    ckpt = _export(tmp_path / "net.safetensors", perturb=True)
    from aioir.inference.reader import load_network

    net, _ = load_network(ckpt)
    src = tmp_path / "in"
    src.mkdir()
    a = _rgb(src / "a.png", 37, 41)
    assert main(["restore", str(ckpt), str(src), "--out", str(tmp_path / "out")]) == 0
    got = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    with torch.no_grad():
        y = net(torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None])
    want = np.round(y.clamp(0, 1)[0].permute(1, 2, 0).double().numpy() * 255).astype(np.uint8)
    assert np.array_equal(got, want)


def test_16_bit_in_16_bit_out(identity, tmp_path):
    from aioir.data import png16

    a = np.random.default_rng(3).integers(0, 65536, (13, 17, 3), dtype=np.uint16)
    src = tmp_path / "in"
    src.mkdir()
    with open(src / "deep.png", "wb") as fh:
        png16.write_png16(fh, a)
    assert main(["restore", str(identity), str(src), "--out", str(tmp_path / "out")]) == 0
    data = (tmp_path / "out" / "deep.png").read_bytes()
    assert png16.png_header(data)[2] == 16  # bit depth
    # the identity network gives back every 16-bit value (tiny_unet starts as the identity)
    assert np.array_equal(png16.decode_png16(data), a)


def test_16_bit_rgb_tiff_in_16_bit_out_with_its_profile_and_tags(identity, tmp_path):
    """A 16-bit RGB TIFF (written by tifffile, stored rotated, with an ICC profile and a Make
    tag) comes back as a 16-bit PNG holding every value, upright, with both (Pillow reads such a
    TIFF as 8-bit RGB: the result was an 8-bit PNG)."""
    import tifffile

    from aioir.data import png16

    stored = np.random.default_rng(6).integers(0, 65536, (11, 19, 3), dtype=np.uint16)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "deep.tif", stored, photometric="rgb",
                     extratags=[(274, "H", 1, 6, True), (271, "s", 0, "aioir-camera", True),
                                (34675, "B", len(icc), icc, True)])
    assert main(["restore", str(identity), str(src), "--out", str(tmp_path / "out")]) == 0
    data = (tmp_path / "out" / "deep.png").read_bytes()
    assert png16.png_header(data)[2] == 16
    assert np.array_equal(png16.decode_png16(data), np.rot90(stored, -1))  # orientation 6
    with Image.open(tmp_path / "out" / "deep.png") as out:
        assert out.info.get("icc_profile") == icc
        assert out.getexif().get(0x010F) == "aioir-camera"


def test_exif_orientation_icc_and_tags_are_carried_over(identity, tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: displayed after a 90-degree clockwise turn
    exif[0x010F] = "aioir-camera"  # Make
    src = tmp_path / "in"
    src.mkdir()
    stored = np.random.default_rng(4).integers(0, 256, (10, 16, 3), dtype=np.uint8)
    Image.fromarray(stored).save(src / "r.png", exif=exif.tobytes(), icc_profile=icc)
    assert main(["restore", str(identity), str(src), "--out", str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "r.png") as out, Image.open(src / "r.png") as inp:
        shown = np.asarray(ImageOps.exif_transpose(inp))
        assert shown.shape == (16, 10, 3)
        assert np.array_equal(np.asarray(ImageOps.exif_transpose(out)), shown)
        assert np.array_equal(np.asarray(out), shown)  # stored upright, no turn left to do
        assert out.info.get("icc_profile") == icc
        tags = out.getexif()
        assert tags.get(0x010F) == "aioir-camera" and 0x0112 not in tags


def test_ensemble_flips_runs_from_the_command_line(identity, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    a = _rgb(src / "a.png")
    assert main(["restore", str(identity), str(src), "--out", str(tmp_path / "out"),
                 "--ensemble", "flips"]) == 0
    # the identity is equivariant: the ensemble gives it back exactly
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "a.png")), a)


# --- any size within the budget, bad images skipped by name ------------------------------------

def _flat_png(path: Path, height: int, width: int, value: int = 90) -> None:
    """An 8-bit RGB PNG of one colour written row by row (a 12000 x 12000 file is ~0.4 MB)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    rows = (b"\0" + bytes([value]) * (3 * width)) * 100
    pack = zlib.compressobj(1)
    body = b"".join(pack.compress(rows) for _ in range(height // 100))
    body += pack.compress(rows[: (height % 100) * (3 * width + 1)]) + pack.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body)
                     + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def huge(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    _flat_png(path, 12000, 12000)
    return path


def test_an_image_too_large_for_the_budget_is_skipped_by_name(identity, huge, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "huge.png").symlink_to(huge)
    _rgb(src / "small.png")
    assert main(["restore", str(identity), str(src), "--out", str(tmp_path / "out"),
                 "--max-memory", "200M"]) == 1
    out = capsys.readouterr().out
    assert f"skipped: {src / 'huge.png'} is 12000 x 12000" in out and "--max-memory" in out
    assert "restored 1 of 2 image(s)" in out
    assert set(_tree(tmp_path / "out")) == {"small.png"}


def test_12000_square_plan_fits_the_default_budget(huge):
    """The issue's 12000 x 12000 file: planned from its header (nothing decoded) into windows
    whose predicted memory fits 1.5 GiB; the real restore is in benchmarks/bench_restore.py."""
    from aioir.inference.memory import window_cost
    from aioir.inference.restore import Restorer

    net = models.build("tiny_unet", width=24, global_tone=True)
    r = Restorer(net, max_memory=int(1.5 * 2**30))
    plan, bits = r.file_plan(huge)
    assert bits == 8 and not plan.whole
    fixed = 2 * 12000 * 12000 * 3  # uint8 input and output
    assert fixed + window_cost(r.cost, plan.tile_h, plan.tile_w, width=12000, batch=plan.batch,
                               overlap=plan.overlap) <= 1.5 * 2**30
    # every pixel is covered, and the overlaps cost little (11 % with the planner's allowance
    # for allocator overhead, 9.6 % with the earlier flat 2.5 x that NAFNet exceeded)
    assert plan.rows[-1] + plan.tile_h == 12000 and plan.cols[-1] + plan.tile_w == 12000
    assert plan.processed_pixels < 1.15 * 12000 * 12000


def test_an_input_folder_inside_the_output_folder_is_read(identity, tmp_path):
    """Only an output folder inside the input is skipped; an input inside --out is the user's
    explicit choice, and its files are read."""
    out = tmp_path / "out"
    (out / "in").mkdir(parents=True)
    _rgb(out / "in" / "a.png")
    assert main(["restore", str(identity), str(out / "in"), "--out", str(out)]) == 0
    assert (out / "a.png").is_file()


def test_a_network_that_routes_by_degradation_reports_what_it_detected(tmp_path, capsys):
    """aware_unet's classifier (LDA: ``logits = stats . W + b``) with W = 0 and b = (0, 5, 0, 0)
    gives every image the probabilities softmax(b): rain e^5 / (e^5 + 3), the others
    1 / (e^5 + 3), computed here by hand; the last class is "clean"."""
    import json
    import math

    torch.manual_seed(0)
    # 3 tasks and a clean class; the JPEG-lattice route off (it would overrule class 1)
    opts = {**models.reduced_options("aware_unet"), "lattice_class": -1}
    net = models.build("aware_unet", **opts)
    with torch.no_grad():
        net.lda_weight.zero_()
        net.lda_bias.copy_(torch.tensor([0.0, 5.0, 0.0, 0.0]))
    path = save_exported(net, tmp_path / "aware.safetensors", model_name="aware_unet",
                         options=opts, tasks=["noise", "rain", "haze"])
    for name in ("a.png", "b.png"):
        Image.fromarray(np.random.default_rng(len(name)).integers(
            0, 256, (20, 28, 3), dtype=np.uint8)).save(tmp_path / name)
    out = tmp_path / "out"
    assert main(["restore", str(path), str(tmp_path / "a.png"), str(tmp_path / "b.png"),
                 "--out", str(out)]) == 0
    assert "a.png: detected rain (p = 0.98)" in capsys.readouterr().out
    found = json.loads((out / "detected.json").read_text())
    rain, other = math.exp(5) / (math.exp(5) + 3), 1 / (math.exp(5) + 3)
    for name in ("a.png", "b.png"):
        assert found[name]["task"] == "rain"
        assert found[name]["probabilities"] == pytest.approx(
            {"noise": other, "rain": rain, "haze": other, "clean": other}, abs=1e-4)
    # the sidecar is an output like the images: kept unless --overwrite
    (out / "a.png").unlink()
    (out / "b.png").unlink()
    assert main(["restore", str(path), str(tmp_path / "a.png"), "--out", str(out)]) == 2
    assert "detected.json already exists" in capsys.readouterr().err


def test_a_network_without_the_hook_writes_no_sidecar(identity, tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    assert main(["restore", str(identity), str(tmp_path / "x.png"), "--out",
                 str(tmp_path / "o")]) == 0
    assert not (tmp_path / "o" / "detected.json").exists()
