"""read_image / write_image against images built with numpy and written by Pillow in every mode."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from aioir.data.io import (
    ImageReadError,
    decode_image,
    image_size,
    list_images,
    read_image,
    to_numpy,
    to_tensor,
    write_image,
)

RNG = np.random.default_rng(1234)


def u8(h: int, w: int, c: int | None = 3) -> np.ndarray:
    shape = (h, w) if c is None else (h, w, c)
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def blocks(colours: np.ndarray, size: int = 16) -> np.ndarray:
    """Constant ``size x size`` blocks (JPEG-friendly: lossy error stays tiny)."""
    return np.kron(colours, np.ones((size, size, 1), dtype=colours.dtype))


def check(img: np.ndarray, expected: np.ndarray, atol: float = 1e-6) -> None:
    assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape == expected.shape
    np.testing.assert_allclose(img, expected, atol=atol, rtol=0)


def test_rgb_png_exact(tmp_path: Path) -> None:
    a = u8(7, 9)
    Image.fromarray(a).save(tmp_path / "x.png")
    check(read_image(tmp_path / "x.png"), a / 255.0)


def test_grey_and_bilevel_become_rgb(tmp_path: Path) -> None:
    g = u8(6, 5, None)
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    check(read_image(tmp_path / "g.png"), np.repeat(g[..., None] / 255.0, 3, axis=2))
    bits = RNG.integers(0, 2, (6, 5)).astype(bool)
    Image.fromarray(bits).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").mode == "1"
    check(read_image(tmp_path / "b.png"), np.repeat(bits[..., None].astype(float), 3, axis=2))


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    palette = u8(1, 16)[0]  # 16 colours
    idx = RNG.integers(0, 16, (5, 8), dtype=np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette(palette.reshape(-1).tolist())
    im.save(tmp_path / "p.png")
    check(read_image(tmp_path / "p.png"), palette[idx] / 255.0)
    im.save(tmp_path / "pt.png", transparency=3)
    assert Image.open(tmp_path / "pt.png").mode == "P"
    expected = palette[idx] / 255.0
    expected[idx == 3] = 1.0  # fully transparent -> white
    check(read_image(tmp_path / "pt.png"), expected)


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    rgba = u8(4, 6, 4)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    a = rgba[..., 3:4] / 255.0
    check(read_image(tmp_path / "a.png"), rgba[..., :3] / 255.0 * a + (1 - a), atol=1e-5)
    la = u8(4, 6, 2)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    a = la[..., 1] / 255.0
    grey = la[..., 0] / 255.0 * a + (1 - a)
    check(read_image(tmp_path / "la.png"), np.repeat(grey[..., None], 3, axis=2), atol=1e-5)


def test_16bit_grey_png_and_tiff_keep_precision(tmp_path: Path) -> None:
    g = RNG.integers(0, 65536, (5, 7)).astype(np.uint16)
    Image.fromarray(g).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    check(read_image(tmp_path / "g16.png"), np.repeat(g[..., None] / 65535.0, 3, axis=2))
    big_endian = Image.frombytes("I;16B", (7, 5), g.astype(">u2").tobytes())
    big_endian.save(tmp_path / "g16b.tif")
    assert Image.open(tmp_path / "g16b.tif").mode == "I;16B"
    check(read_image(tmp_path / "g16b.tif"), np.repeat(g[..., None] / 65535.0, 3, axis=2))


def test_int32_and_float_modes(tmp_path: Path) -> None:
    i = RNG.integers(0, 70000, (4, 5)).astype(np.int32)  # some values above the 16-bit range
    Image.fromarray(i, "I").save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    check(read_image(tmp_path / "i.tif"), np.repeat(np.minimum(i / 65535.0, 1)[..., None], 3, axis=2))
    f = RNG.uniform(-0.2, 1.2, (4, 5)).astype(np.float32)
    Image.fromarray(f, "F").save(tmp_path / "f.tif")
    check(read_image(tmp_path / "f.tif"), np.repeat(np.clip(f, 0, 1)[..., None], 3, axis=2))


def test_cmyk_uses_multiplicative_conversion(tmp_path: Path) -> None:
    cmyk = u8(3, 4, 4)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.tif")
    c = cmyk / 255.0
    expected = (1 - c[..., :3]) * (1 - c[..., 3:4])  # R = (1 - C)(1 - K), ...
    check(read_image(tmp_path / "c.tif"), expected, atol=0.5 / 255 + 1e-6)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    colours = u8(2, 3, 4)
    colours[..., 3] = 0
    Image.fromarray(blocks(colours), "CMYK").save(tmp_path / "c.jpg", quality=100)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    check(read_image(tmp_path / "c.jpg"), 1 - blocks(colours)[..., :3] / 255.0, atol=3 / 255)


def test_ycbcr_jpeg(tmp_path: Path) -> None:
    colours = u8(2, 2)
    Image.fromarray(blocks(colours)).convert("YCbCr").save(tmp_path / "y.jpg", quality=100, subsampling=0)
    check(read_image(tmp_path / "y.jpg"), blocks(colours) / 255.0, atol=4 / 255)


def test_exif_rotated_jpeg(tmp_path: Path) -> None:
    colours = u8(2, 3)  # stored 32 x 48
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(blocks(colours)).save(tmp_path / "r.jpg", quality=100, exif=exif, subsampling=0)
    img = read_image(tmp_path / "r.jpg")
    assert img.shape == (48, 32, 3)
    check(img, np.rot90(blocks(colours), -1) / 255.0, atol=4 / 255)
    assert image_size(tmp_path / "r.jpg") == (48, 32)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path: Path, orientation: int) -> None:
    a = u8(3, 5)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(a).save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as im:
        reference = np.asarray(ImageOps.exif_transpose(im)) / 255.0
    check(read_image(tmp_path / "o.png"), reference)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _filter_row(kind: int, cur: bytes, prev: bytes, bpp: int) -> bytes:
    """The PNG spec's forward filters, written out byte by byte."""
    out = []
    for i, x in enumerate(cur):
        a = cur[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if kind == 0:
            pred = 0
        elif kind == 1:
            pred = a
        elif kind == 2:
            pred = b
        elif kind == 3:
            pred = (a + b) // 2
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        out.append((x - pred) % 256)
    return bytes([kind] + out)


def test_16bit_rgba_png_with_every_filter(tmp_path: Path) -> None:
    rgba = RNG.integers(0, 65536, (10, 6, 4)).astype(np.uint16)
    rgba[..., 3] = 65535
    rgba[0, 0, 3] = 0  # one transparent pixel -> white
    rows = [rgba[y].astype(">u2").tobytes() for y in range(10)]
    raw = b"".join(_filter_row(y % 5, rows[y], rows[y - 1] if y else bytes(len(rows[0])), 8) for y in range(10))
    ihdr = struct.pack(">IIBBBBB", 6, 10, 16, 6, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw))
    (tmp_path / "rgba16.png").write_bytes(data + _png_chunk(b"IEND", b""))
    expected = rgba[..., :3] / 65535.0
    expected[0, 0] = 1.0
    check(read_image(tmp_path / "rgba16.png"), expected)


def test_write_16bit_rgb_png_roundtrip(tmp_path: Path) -> None:
    q = RNG.integers(0, 65536, (5, 4, 3))
    write_image(tmp_path / "w16.png", q / 65535.0, bits=16)
    check(read_image(tmp_path / "w16.png"), q / 65535.0)
    # Pillow reads the same file as 8-bit RGB holding the high bytes: the file is a valid PNG
    assert np.array_equal(np.asarray(Image.open(tmp_path / "w16.png")), (q >> 8).astype(np.uint8))


def test_write_16bit_grey_png_is_read_by_pillow(tmp_path: Path) -> None:
    q = RNG.integers(0, 65536, (5, 4))
    write_image(tmp_path / "g16.png", (q / 65535.0)[..., None], bits=16)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g16.png")).astype(np.int64), q)


def test_write_8bit_rounds_and_creates_parents(tmp_path: Path) -> None:
    levels = np.array([0.0, 51.0, 100.4, 100.6, 254.5001, 300.0, -5.0]) / 255.0
    img = np.repeat(levels[None, :, None], 3, axis=2)
    target = tmp_path / "a" / "b" / "w.png"
    write_image(target, img)
    stored = np.asarray(Image.open(target))[0, :, 0]
    assert stored.tolist() == [0, 51, 100, 101, 255, 255, 0]
    assert sorted(os.listdir(target.parent)) == ["w.png"]  # no temporary file left behind


def test_write_jpeg_and_tensor_input(tmp_path: Path) -> None:
    colours = u8(2, 2)
    t = torch.from_numpy(blocks(colours).transpose(2, 0, 1) / 255.0)
    write_image(tmp_path / "w.jpg", t, quality=100)
    assert Image.open(tmp_path / "w.jpg").format == "JPEG"
    check(read_image(tmp_path / "w.jpg"), blocks(colours) / 255.0, atol=4 / 255)


def test_write_rejects_bad_requests(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="16-bit"):
        write_image(tmp_path / "x.jpg", np.zeros((2, 2, 3)), bits=16)
    with pytest.raises(ValueError, match="extension"):
        write_image(tmp_path / "x.nope", np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="shape"):
        write_image(tmp_path / "x.png", np.zeros((2, 2, 4)))
    assert not any(tmp_path.iterdir())


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "keep.png"
    write_image(target, np.zeros((2, 2, 3)))
    before = target.read_bytes()
    with pytest.raises(ValueError):
        write_image(target, np.full((2, 2, 3), np.nan))
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.png"]


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_truncated_file_raises_naming_the_file(tmp_path: Path, fmt: str) -> None:
    full = tmp_path / f"full.{fmt}"
    Image.fromarray(u8(64, 64)).save(full)
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(full.read_bytes()[: len(full.read_bytes()) // 2])
    with pytest.raises(ImageReadError, match=f"cut.{fmt}"):
        read_image(cut)


def test_truncated_16bit_png_raises(tmp_path: Path) -> None:
    write_image(tmp_path / "w16.png", RNG.random((8, 8, 3)), bits=16)
    data = (tmp_path / "w16.png").read_bytes()
    (tmp_path / "cut16.png").write_bytes(data[: len(data) - 30])
    with pytest.raises(ImageReadError, match=r"cut16.png"):
        read_image(tmp_path / "cut16.png")


def test_garbage_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "junk.png").write_bytes(RNG.integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(ImageReadError, match=r"junk\.png.*not a recognised image format"):
        read_image(tmp_path / "junk.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.jpg.*empty"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageReadError, match=r"missing\.png.*not found"):
        read_image(tmp_path / "missing.png")
    assert issubclass(ImageReadError, ValueError)


def test_tensor_numpy_layout() -> None:
    a = RNG.random((4, 5, 3)).astype(np.float32)
    t = to_tensor(a)
    assert t.shape == (3, 4, 5) and t.dtype == torch.float32
    assert float(t[2, 3, 1]) == float(a[3, 1, 2])
    assert np.array_equal(to_numpy(t), a)


def test_list_images(tmp_path: Path) -> None:
    for rel in ["b.png", "a.JPG", "sub/c.tif", "sub/deeper/d.webp", "notes.txt", ".hidden.png", ".git/e.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    rels = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert rels == ["a.JPG", "b.png", "sub/c.tif", "sub/deeper/d.webp"]
    flat = [p.name for p in list_images(tmp_path, recursive=False)]
    assert flat == ["a.JPG", "b.png"]
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "nope")


# --- decode_image: stored pixels and metadata; write_image: metadata, integers, umask ----------

@pytest.mark.parametrize("mode,dtype,white,bits", [
    ("RGB", np.uint8, 255.0, 8), ("L", np.uint8, 255.0, 8), ("I;16", np.uint16, 65535.0, 16),
    ("RGBA", np.float32, 1.0, 8),
])
def test_decode_keeps_the_stored_type_and_matches_read_image(tmp_path: Path, mode, dtype,
                                                             white, bits) -> None:
    if mode == "I;16":
        im = Image.fromarray(RNG.integers(0, 65536, (6, 5)).astype(np.uint16))
    elif mode == "L":
        im = Image.fromarray(u8(6, 5, None))
    else:
        im = Image.fromarray(u8(6, 5, 4 if mode == "RGBA" else 3))
    assert im.mode == mode
    im.save(tmp_path / "x.png")
    d = decode_image(tmp_path / "x.png")
    assert d.pixels.dtype == dtype and d.pixels.shape == (6, 5, 3)
    assert (d.white, d.bits) == (white, bits)
    # read_image is the stored values over white, bit for bit
    assert np.array_equal(read_image(tmp_path / "x.png"), d.pixels.astype(np.float32) / np.float32(white))


def test_16bit_colour_png_decodes_to_uint16(tmp_path: Path) -> None:
    q = RNG.integers(0, 65536, (4, 6, 3)).astype(np.uint16)
    write_image(tmp_path / "c16.png", q, bits=16)  # integers are written as they are
    d = decode_image(tmp_path / "c16.png")
    assert d.pixels.dtype == np.uint16 and d.bits == 16 and np.array_equal(d.pixels, q)


def test_metadata_is_read_and_written_back(tmp_path: Path) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 8  # displayed after a 90-degree counter-clockwise turn
    exif[0x0131] = "a-program"  # Software
    stored = u8(4, 7)
    Image.fromarray(stored).save(tmp_path / "m.jpg", exif=exif.tobytes(), icc_profile=icc,
                                 quality=100, subsampling=0)
    d = decode_image(tmp_path / "m.jpg")
    assert d.pixels.shape == (7, 4, 3)  # upright
    assert d.icc_profile == icc
    back = Image.Exif()
    back.load(d.exif)
    assert back.get(0x0131) == "a-program" and 0x0112 not in back  # orientation applied
    for name, bits in (("o8.png", 8), ("o16.png", 16), ("o.jpg", 8)):
        write_image(tmp_path / name, d.to_float(), bits=bits, icc_profile=d.icc_profile,
                    exif=d.exif)
        with Image.open(tmp_path / name) as im:
            assert im.info.get("icc_profile") == icc, name
            assert im.getexif().get(0x0131) == "a-program", name
    write_image(tmp_path / "o.bmp", d.to_float(), icc_profile=icc, exif=d.exif)  # no place: ignored


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_image(tmp_path / "u.png", np.zeros((2, 2, 3)))
        write_image(tmp_path / "u16.png", np.zeros((2, 2, 3)), bits=16)
    finally:
        os.umask(old)
    for name in ("u.png", "u16.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_quantised_integers_are_written_as_they_are(tmp_path: Path) -> None:
    q = u8(3, 4)
    write_image(tmp_path / "q.png", q)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "q.png")), q)
    with pytest.raises(ValueError, match="shape"):
        write_image(tmp_path / "bad.png", np.zeros((2, 2, 2), np.uint8))


def test_image_size_of_a_png_reads_the_header_only(tmp_path: Path) -> None:
    """Pillow's getexif() on a PNG decodes the image looking for a late eXIf chunk; image_size
    must not (a truncated file shows it: decoding would fail)."""
    Image.fromarray(u8(40, 30)).save(tmp_path / "p.png")
    data = (tmp_path / "p.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert image_size(tmp_path / "cut.png") == (40, 30)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(u8(40, 30)).save(tmp_path / "turned.png", exif=exif.tobytes())
    assert image_size(tmp_path / "turned.png") == (30, 40)


def test_16bit_rgb_tiff_keeps_its_precision_and_writes_back(tmp_path: Path) -> None:
    """tifffile writes the reference file; Pillow alone would read it as 8-bit RGB."""
    import tifffile

    a = RNG.integers(0, 65536, (6, 9, 3)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", a, photometric="rgb")
    d = decode_image(tmp_path / "a.tif")
    assert d.bits == 16 and d.pixels.dtype == np.uint16 and np.array_equal(d.pixels, a)
    assert np.array_equal(read_image(tmp_path / "a.tif"), (a / 65535.0).astype(np.float32))
    write_image(tmp_path / "b.tiff", a, bits=16)
    assert np.array_equal(tifffile.imread(tmp_path / "b.tiff"), a)


def test_tiff_alpha_planar_and_float_samples(tmp_path: Path) -> None:
    import tifffile

    rgba = RNG.integers(0, 65536, (4, 5, 4)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    f = rgba / 65535.0
    want = f[..., :3] * f[..., 3:] + (1 - f[..., 3:])  # composited on white
    assert np.allclose(read_image(tmp_path / "a.tif"), want, atol=1e-6)
    planar = RNG.integers(0, 65536, (3, 4, 5)).astype(np.uint16)  # samples first
    tifffile.imwrite(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    assert np.array_equal(decode_image(tmp_path / "p.tif").pixels, np.moveaxis(planar, 0, -1))
    fl = np.array([[[-0.5, 0.25, 2.0]]], np.float32)
    tifffile.imwrite(tmp_path / "f.tif", fl, photometric="rgb")
    assert read_image(tmp_path / "f.tif").tolist() == [[[0.0, 0.25, 1.0]]]
    assert image_size(tmp_path / "f.tif") == (1, 1)
