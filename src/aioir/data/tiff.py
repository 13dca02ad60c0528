"""TIFF through tifffile: 16-bit colour kept at 16 bits (Pillow reads it as 8-bit RGB).

:func:`read_tiff` decodes the first image of a TIFF whose samples tifffile hands over as
intensities (photometric ``RGB`` or ``MINISBLACK``, unsigned integers of 8, 16 or 32 bits or
floats; :func:`readable` says which): 8- and 16-bit samples stay integers, 32-bit integers are
divided by 65535 and floats taken as already in [0, 1] (both clipped, as Pillow's modes ``I`` and
``F`` are read); alpha (an extra sample declared associated or unassociated) is composited on
white; the orientation tag is applied. Other TIFFs (palette, CMYK, YCbCr, 1-bit, ...) are left to
Pillow. The ICC profile (tag 34675) and the descriptive tags of the first directory (make, model,
date, ...) come with the pixels, the latter as an EXIF block, so a restored PNG keeps them.

:func:`write_tiff` writes ``uint8`` or ``uint16`` RGB (or grey) with an ICC profile and those
tags, deflate-compressed.

>>> import tempfile, os, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "a.tif")
>>> a = np.array([[[0, 1000, 65535]]], np.uint16)
>>> with open(path, "wb") as fh:
...     write_tiff(fh, a)
>>> back = read_tiff(path)
>>> back.pixels.tolist(), back.white, back.bits
([[[0, 1000, 65535]]], 65535.0, 16)
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from aioir.data.orientation import orient_array

__all__ = ["MAGIC", "is_tiff", "readable", "read_tiff", "write_tiff", "TiffPixels"]

#: first bytes of a classic and a BigTIFF file, little- and big-endian
MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: first-directory tags kept as EXIF (code: name): descriptive, not structural
DESCRIPTIVE_TAGS = {270: "ImageDescription", 271: "Make", 272: "Model", 305: "Software",
                    306: "DateTime", 315: "Artist", 33432: "Copyright"}
ORIENTATION_TAG, ICC_TAG = 274, 34675
_PHOTOMETRIC_RGB, _PHOTOMETRIC_MINISBLACK = 2, 1
_ALPHA_EXTRASAMPLES = {1: "associated", 2: "unassociated"}


def is_tiff(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a TIFF.

    >>> is_tiff(b"II*\\x00...."), is_tiff(b"\\x89PNG")
    (True, False)
    """
    return head[:4] in MAGIC


@dataclass
class TiffPixels:
    """The stored pixels (``H x W x 3``, upright) and what a writer needs (see ``DecodedImage``)."""

    pixels: np.ndarray
    white: float
    bits: int
    sample_bytes: int
    icc_profile: bytes | None
    exif: bytes | None


def _page(tif: Any) -> Any:
    return tif.pages[0]


def readable(page: Any) -> bool:
    """Whether tifffile's samples of ``page`` are intensities this module reads (else: Pillow)."""
    kind = np.dtype(page.dtype).kind if page.dtype is not None else ""
    if int(page.photometric) not in (_PHOTOMETRIC_RGB, _PHOTOMETRIC_MINISBLACK):
        return False
    if kind == "u":
        return int(page.bitspersample) in (8, 16, 32)
    return kind == "f"


def _layout(page: Any) -> tuple[int, int, int, str | None]:
    """``(height, width, samples, alpha kind)`` of a readable page, from its header."""
    samples = int(page.samplesperpixel)
    extras = tuple(int(e) for e in (page.extrasamples or ()))
    colour = samples - len(extras)
    alpha = _ALPHA_EXTRASAMPLES.get(extras[0]) if extras else None
    return int(page.imagelength), int(page.imagewidth), colour, alpha


def header(path: str | os.PathLike[str]) -> tuple[int, int, int, int] | None:
    """``(height, width, orientation, bytes per stored sample)`` of a TIFF this module reads,
    from the header alone; None when Pillow is to read it."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = _page(tif)
        if not readable(page):
            return None
        h, w, _, alpha = _layout(page)
        itemsize = np.dtype(page.dtype).itemsize
        sample = itemsize if itemsize <= 2 and alpha is None else 4
        orientation = int(page.tags[ORIENTATION_TAG].value) if ORIENTATION_TAG in page.tags else 1
    return h, w, orientation, sample


def _exif(page: Any) -> bytes | None:
    from PIL import Image

    exif = Image.Exif()
    for code in DESCRIPTIVE_TAGS:
        if code in page.tags and isinstance(page.tags[code].value, str):
            exif[code] = page.tags[code].value
    return exif.tobytes() if len(exif) else None


def read_tiff(path: str | os.PathLike[str], check_size: Any = None) -> TiffPixels:
    """Decode a TIFF that :func:`readable` accepts (see the module notes).

    ``check_size(width, height)`` runs on the header's size before anything is decoded (the
    decompression-bomb guard); it raises to refuse. A TIFF :func:`readable` refuses raises
    ``ValueError``.
    """
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = _page(tif)
        if not readable(page):
            raise ValueError("not a TIFF of RGB or grey intensities")
        h, w, colour, alpha = _layout(page)
        if check_size is not None:
            check_size(w, h)
        a = page.asarray()
        orientation = int(page.tags[ORIENTATION_TAG].value) if ORIENTATION_TAG in page.tags else 1
        icc = page.tags[ICC_TAG].value if ICC_TAG in page.tags else None
        exif = _exif(page)
    if a.ndim == 2:
        a = a[:, :, None]
    elif a.ndim == 3 and a.shape[0] == int(page.samplesperpixel) and a.shape[:2] != (h, w):
        a = np.moveaxis(a, 0, -1)  # planar configuration: samples first
    if a.ndim != 3 or a.shape[:2] != (h, w):
        raise ValueError(f"unexpected TIFF sample layout {a.shape}")
    kind, bits = a.dtype.kind, a.dtype.itemsize * 8
    if kind == "f" or bits == 32 or alpha is not None:
        if kind == "f":
            if not np.isfinite(a).all():
                raise ValueError("float image contains NaN or infinite values")
            f = np.clip(a.astype(np.float32), 0.0, 1.0)
        else:
            top = 255.0 if bits == 8 else 65535.0
            f = np.clip(a.astype(np.float64) / top, 0.0, 1.0).astype(np.float32)
        rgb = f[..., :colour]
        if alpha is not None:
            al = f[..., colour:colour + 1]
            rgb = rgb + (1.0 - al) if alpha == "associated" else rgb * al + (1.0 - al)
        pixels, white, out_bits = rgb, 1.0, 16 if bits > 8 or kind == "f" else 8
    else:
        pixels, white, out_bits = a[..., :colour], 255.0 if bits == 8 else 65535.0, bits
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    pixels = orient_array(pixels[..., :3], orientation)
    sample = pixels.dtype.itemsize
    return TiffPixels(np.ascontiguousarray(pixels), float(white), out_bits, sample,
                      bytes(icc) if icc else None, exif)


def write_tiff(fh: BinaryIO, pixels: np.ndarray, *, icc_profile: bytes | None = None,
               exif: bytes | None = None) -> None:
    """Write ``uint8``/``uint16`` ``H x W x 3`` (RGB) or ``H x W`` / ``H x W x 1`` (grey) to
    the open binary file ``fh``, with the ICC profile and the descriptive tags of ``exif``."""
    import tifffile
    from PIL import Image

    a = pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
    extratags: list[tuple[int, str, int, Any, bool]] = []
    named: dict[str, Any] = {"description": None, "software": False, "datetime": None}
    if exif:
        block = Image.Exif()
        block.load(exif)
        tags = {code: block[code] for code in DESCRIPTIVE_TAGS if isinstance(block.get(code), str)}
        named = {"description": tags.pop(270, None), "software": tags.pop(305, False),
                 "datetime": tags.pop(306, None)}
        extratags += [(code, "s", 0, value, True) for code, value in tags.items()]
    if icc_profile:
        extratags.append((ICC_TAG, "B", len(icc_profile), icc_profile, True))
    buffer = io.BytesIO()  # tifffile needs a named file or a seekable buffer
    tifffile.imwrite(buffer, a, photometric="rgb" if a.ndim == 3 else "minisblack",
                     compression="zlib", extratags=extratags, metadata=None, **named)
    fh.write(buffer.getbuffer())
