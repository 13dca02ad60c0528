"""A minimal 16-bit-per-channel PNG codec for the colour cases Pillow cannot represent.

Pillow has no 16-bit colour mode: it opens a 48/64-bit PNG as 8-bit ``RGB``/``RGBA`` (keeping
the high byte) and cannot write one. This module reads non-interlaced 16-bit PNGs of colour type
2 (RGB), 4 (grey + alpha) and 6 (RGBA) exactly, and writes 16-bit grey or RGB PNGs (filter 0,
zlib, optional ICC profile and EXIF), following the PNG specification (ISO/IEC 15948).
Everything else goes through Pillow.

>>> import io
>>> import numpy as np
>>> a = np.array([[[0, 1, 65535], [256, 40000, 7]]], dtype=np.uint16)
>>> buf = io.BytesIO()
>>> write_png16(buf, a)
>>> b = decode_png16(buf.getvalue())
>>> b.dtype, b.shape, bool((b == a).all())
(dtype('uint16'), (1, 2, 3), True)
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel


def png_header(data: bytes) -> tuple[int, int, int, int, int] | None:
    """``(width, height, bit_depth, colour_type, interlace)`` from a PNG's IHDR, None if not PNG.

    >>> png_header(b"not a png") is None
    True
    """
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return width, height, depth, ctype, interlace


def needs_png16(data: bytes) -> bool:
    """True for the PNGs Pillow would truncate: 16-bit, colour or grey+alpha, non-interlaced.

    >>> needs_png16(b"\\x89PNG")
    False
    """
    head = png_header(data)
    return head is not None and head[2] == 16 and head[3] in (2, 4, 6) and head[4] == 0


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter_row(kind: int, line: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    """Undo one scanline's filter (PNG spec section 9); arrays are uint8 of equal length."""
    if kind == 0:
        return line.copy()
    if kind == 1:  # Sub: running sum (mod 256) of each byte lane
        lanes = line.reshape(-1, bpp).astype(np.uint64)
        return (np.cumsum(lanes, axis=0) % 256).astype(np.uint8).reshape(-1)
    if kind == 2:  # Up
        return line + prev
    if kind not in (3, 4):
        raise ValueError(f"invalid PNG filter type {kind}")
    raw, up, out = line.tolist(), prev.tolist(), [0] * len(line)
    for i, x in enumerate(raw):
        left = out[i - bpp] if i >= bpp else 0
        if kind == 3:  # Average
            out[i] = (x + ((left + up[i]) >> 1)) & 0xFF
        else:  # Paeth
            upleft = up[i - bpp] if i >= bpp else 0
            out[i] = (x + _paeth(left, up[i], upleft)) & 0xFF
    return np.array(out, dtype=np.uint8)


def decode_png16(data: bytes) -> np.ndarray:
    """Decode a non-interlaced 16-bit PNG to a ``uint16`` array ``(H, W, samples)``.

    Raises ``ValueError`` on anything malformed (bad CRC, truncated data, wrong sizes).
    """
    head = png_header(data)
    if head is None:
        raise ValueError("not a PNG file")
    width, height, depth, ctype, interlace = head
    if depth != 16 or ctype not in _CHANNELS or interlace != 0:
        raise ValueError(
            f"unsupported PNG: bit depth {depth}, colour type {ctype}, interlace {interlace}"
        )
    pos, idat = 8, []
    while True:
        if pos + 8 > len(data):
            raise ValueError("truncated PNG (no IEND chunk)")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise ValueError(f"truncated PNG chunk {kind!r}")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body) & 0xFFFFFFFF:
            raise ValueError(f"CRC mismatch in PNG chunk {kind!r}")
        if kind == b"IDAT":
            idat.append(body)
        if kind == b"IEND":
            break
        pos += 12 + length
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise ValueError(f"corrupt PNG image data: {exc}") from exc
    bpp = 2 * _CHANNELS[ctype]
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise ValueError(f"PNG image data has {len(raw)} bytes, expected {height * (stride + 1)}")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    out = np.empty((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        prev = out[y] = _unfilter_row(int(rows[y, 0]), rows[y, 1:], prev, bpp)
    return out.view(">u2").astype(np.uint16).reshape(height, width, _CHANNELS[ctype])


#: rows compressed per step when writing, so a large image is never copied whole
_WRITE_ROWS = 256


def write_png16(
    file: BinaryIO,
    img: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
) -> None:
    """Write a ``uint16`` array ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` as a 16-bit PNG.

    ``icc_profile`` is stored in an ``iCCP`` chunk, ``exif`` (with or without the ``Exif\\0\\0``
    header) in an ``eXIf`` chunk, both before the image data. Rows are filtered and compressed
    :data:`_WRITE_ROWS` at a time (one ``IDAT`` chunk per step).
    """
    a = np.asarray(img)
    if a.dtype != np.uint16:
        raise TypeError(f"write_png16 needs uint16 data, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"write_png16 needs (H, W), (H, W, 1) or (H, W, 3), got {a.shape}")
    height, width, channels = a.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 16, 0 if channels == 1 else 2, 0, 0, 0)
    file.write(PNG_SIGNATURE + chunk(b"IHDR", ihdr))
    if icc_profile:
        file.write(chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc_profile)))
    if exif:
        file.write(chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif))
    packer = zlib.compressobj(6)
    for y in range(0, height, _WRITE_ROWS):
        rows = np.ascontiguousarray(a[y : y + _WRITE_ROWS].astype(">u2")).view(np.uint8)
        rows = rows.reshape(rows.shape[0], -1)
        raw = np.concatenate([np.zeros((rows.shape[0], 1), np.uint8), rows], axis=1)
        data = packer.compress(raw.tobytes())
        if data:
            file.write(chunk(b"IDAT", data))
    file.write(chunk(b"IDAT", packer.flush()))
    file.write(chunk(b"IEND", b""))
