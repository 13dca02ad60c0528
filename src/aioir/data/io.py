"""Robust image reading and writing: every file becomes float32 RGB ``H x W x 3`` in ``[0, 1]``.

Reading (:func:`read_image`)

* any Pillow mode: ``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` are
  converted to RGB by Pillow; greyscale is repeated over the three channels;
* 16-bit data keeps its precision: ``I;16*`` (16-bit grey PNG/TIFF) and ``I`` (32-bit integer,
  which Pillow also uses for 16-bit data) are divided by 65535 and clipped; 16-bit colour PNGs,
  which Pillow would truncate to 8 bits, are decoded by :mod:`aioir.data.png16`, and TIFFs of
  RGB or grey intensities (8/16/32-bit integers, floats; 16-bit colour, which Pillow also
  truncates) by tifffile (:mod:`aioir.data.tiff`, with their ICC profile and descriptive tags);
  ``F`` (float) is taken as already in ``[0, 1]`` and clipped;
* **alpha is composited on white** (``rgb * a + (1 - a)``), for ``RGBA``, ``LA``, ``PA``,
  palette or ``RGB``/``L`` images with a ``transparency`` entry, so transparent areas do not turn
  into arbitrary colours;
* the EXIF orientation is applied (``PIL.ImageOps.exif_transpose``), so the array is the image
  as a viewer shows it;
* a missing, corrupt, truncated or unsupported file raises :class:`ImageReadError` (a
  ``ValueError``) naming the file and the cause;
* an image larger than :func:`max_image_pixels` (Pillow's decompression-bomb guard, 89.5
  megapixels, unless ``AIOIR_MAX_IMAGE_PIXELS`` says otherwise) is refused from its header,
  before anything is decoded, with a message naming the file, its size, the limit and how to
  raise it (a 400 KB PNG can decode to 12000 x 12000 pixels: 1.7 GB as float32).

:func:`decode_image` gives the same pixels before scaling (``uint8``, ``uint16`` or ``float32``,
a quarter of the memory for 8-bit files) with the source's bit depth, ICC profile and EXIF (less
the orientation, which is applied): what a command needs to write a result like its input.

Writing (:func:`write_image`): PNG or JPEG (or any format Pillow writes, chosen by extension),
8-bit rounded, or 16-bit PNG or TIFF (TIFF through tifffile), with an optional ICC profile and EXIF
block (PNG, JPEG, WebP,
TIFF); parent folders are created; the file appears atomically through
:func:`aioir.files.atomic_write` (temporary file in the same folder, then ``os.replace``), so a
crash never leaves a half-written image, with the permissions of any new file (``0666`` less
the process umask), and a failed write raises :class:`aioir.errors.OutputError` naming the file.

>>> import tempfile, os
>>> import numpy as np
>>> img = np.zeros((4, 5, 3), np.float32); img[..., 0] = 1.0
>>> path = os.path.join(tempfile.mkdtemp(), "sub", "red.png")
>>> write_image(path, img)
>>> back = read_image(path)
>>> back.shape, back.dtype, float(back[..., 0].min()), float(back[..., 1].max())
((4, 5, 3), dtype('float32'), 1.0, 0.0)
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aioir.data import png16, tiff
from aioir.data.orientation import orient_array
from aioir.files import atomic_write

if TYPE_CHECKING:
    import torch

#: file extensions (lower case) that :func:`list_images` treats as images
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif",
)

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_EXIF_ORIENTATION = 0x0112


class ImageReadError(ValueError):
    """An image file could not be read; the message names the file and the cause."""


#: environment variable: the largest image aioir decodes, in pixels (0: no limit)
PIXEL_LIMIT_ENV = "AIOIR_MAX_IMAGE_PIXELS"


def max_image_pixels() -> int | None:
    """The largest image (width x height) aioir reads: ``AIOIR_MAX_IMAGE_PIXELS`` when set (0:
    no limit; Pillow's own guard is then lifted too), else Pillow's ``Image.MAX_IMAGE_PIXELS``
    (89,478,485 by default).

    >>> import os
    >>> os.environ["AIOIR_MAX_IMAGE_PIXELS"] = "2e8"
    >>> max_image_pixels()
    200000000
    >>> del os.environ["AIOIR_MAX_IMAGE_PIXELS"]
    """
    from PIL import Image

    raw = os.environ.get(PIXEL_LIMIT_ENV)
    if raw is None or not raw.strip():
        return Image.MAX_IMAGE_PIXELS
    try:
        value = int(float(raw))
    except ValueError:
        raise ValueError(f"{PIXEL_LIMIT_ENV} must be a number of pixels (0: no limit), got "
                         f"{raw!r}") from None
    Image.MAX_IMAGE_PIXELS = None  # aioir checks the size itself (below), Pillow need not
    return value if value > 0 else None


def _too_large(p: Path, width: int, height: int, limit: int | None) -> ImageReadError | None:
    if limit is None or width * height <= limit:
        return None
    return ImageReadError(
        f"cannot read image {p}: {width} x {height} = {width * height:,} pixels is above the "
        f"limit of {limit:,} pixels (a guard against decompression bombs: small files that "
        f"decode to huge images); if you trust this file, raise the limit with "
        f"{PIXEL_LIMIT_ENV}={width * height} (0: no limit)")


@contextmanager
def _open_guarded(p: Path, source: Any) -> Iterator[Any]:
    """``Image.open(source)`` refused above :func:`max_image_pixels` before any decoding;
    Pillow's own decompression-bomb warning and error become that refusal."""
    import warnings

    from PIL import Image

    limit = max_image_pixels()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(source)
        except Image.DecompressionBombError:
            im = None
        if im is None:  # Pillow refused at twice its limit: read the size from the header
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                if hasattr(source, "seek"):
                    source.seek(0)
                with Image.open(source) as probe:
                    size = probe.size
            finally:
                Image.MAX_IMAGE_PIXELS = saved
            raise _too_large(p, size[0], size[1], limit or 0) or ImageReadError(
                f"cannot read image {p}: above Pillow's decompression-bomb limit")
    with im:
        error = _too_large(p, *im.size, limit)
        if error is not None:
            raise error
        yield im


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:4]
    return rgba[..., :3] * alpha + (1.0 - alpha)


def _grey_to_rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a


#: rows converted from Pillow to numpy at a time
_STRIP_ROWS = 1024


def _as_array(im: Any) -> np.ndarray:
    """``np.asarray(im)``, a band of rows at a time: numpy's conversion goes through
    ``Image.tobytes``, which holds the image twice more while it runs."""
    width, height = im.size
    if height <= _STRIP_ROWS:
        return np.asarray(im)
    first = np.asarray(im.crop((0, 0, width, _STRIP_ROWS)))
    out = np.empty((height,) + first.shape[1:], dtype=first.dtype)
    out[:_STRIP_ROWS] = first
    for y in range(_STRIP_ROWS, height, _STRIP_ROWS):
        out[y : y + _STRIP_ROWS] = np.asarray(im.crop((0, y, width, min(height, y + _STRIP_ROWS))))
    return out


def _pil_pixels(im: Any) -> tuple[np.ndarray, float]:
    """``(pixels H x W x 3, white)`` from an (already loaded and oriented) Pillow image.

    ``pixels / white`` is the float RGB image in [0, 1]; ``pixels`` is ``uint8`` or ``uint16``
    where the file stores integers without alpha, ``float32`` (white 1) otherwise.
    """
    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES:
        return _grey_to_rgb(_as_array(im).astype(np.uint16)), 65535.0
    if mode == "I":
        wide = _as_array(im).astype(np.float64) / 65535.0
        return _grey_to_rgb(np.clip(wide, 0.0, 1.0).astype(np.float32)), 1.0
    if mode == "F":
        a = _as_array(im).astype(np.float32)
        if not np.isfinite(a).all():
            raise ValueError("float image contains NaN or infinite values")
        return _grey_to_rgb(np.clip(a, 0.0, 1.0)), 1.0
    has_alpha = mode in _ALPHA_MODES or "transparency" in im.info
    if has_alpha:
        if mode == "La":
            im = im.convert("LA")
        a = _as_array(im.convert("RGBA")).astype(np.float32) / 255.0
        return _composite_on_white(a), 1.0
    if mode == "1":
        im = im.convert("L")
    if mode in ("L", "1"):
        return _grey_to_rgb(_as_array(im)), 255.0
    return _as_array(im if mode == "RGB" else im.convert("RGB")), 255.0


def _read_png16(data: bytes, im: Any) -> tuple[np.ndarray, float]:
    a = png16.decode_png16(data)
    white = 65535.0
    if a.shape[2] in (2, 4):  # with alpha: composite in float
        a = a.astype(np.float32) / 65535.0
        white = 1.0
        if a.shape[2] == 2:  # grey + alpha
            a = np.concatenate([_grey_to_rgb(a[..., 0]), a[..., 1:2]], axis=2)
        a = _composite_on_white(a)
    return orient_array(a, _header_orientation(im)), white


@dataclass
class DecodedImage:
    """An image file's pixels as stored (upright), with what is needed to write a result like it.

    Attributes:
        pixels: ``H x W x 3``, ``uint8`` or ``uint16`` (integer files without alpha) or
            ``float32``; ``pixels / white`` is the float RGB image of :func:`read_image`.
        white: the value of full intensity (255, 65535 or 1).
        bits: precision of the source, 8 or 16 (16 for 16-bit, 32-bit integer and float files).
        icc_profile: the embedded ICC profile, or None.
        exif: the EXIF block without its orientation tag (the pixels are upright), or None.
    """

    pixels: np.ndarray
    white: float
    bits: int
    icc_profile: bytes | None = None
    exif: bytes | None = None

    def to_float(self) -> np.ndarray:
        """Float32 RGB in [0, 1], exactly :func:`read_image`'s array."""
        a = self.pixels.astype(np.float32)  # a copy, so the in-place division below is safe
        if self.white != 1.0:
            a /= np.float32(self.white)
        return a


def _exif_without_orientation(im: Any) -> bytes | None:
    exif = _exif(im)
    exif.pop(_EXIF_ORIENTATION, None)
    return exif.tobytes() if len(exif) else None


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read ``path`` as float32 RGB ``H x W x 3`` in ``[0, 1]`` (see the module notes).

    >>> read_image("/no/such/file.png")
    Traceback (most recent call last):
    ...
    aioir.data.io.ImageReadError: cannot read image /no/such/file.png: file not found
    """
    return decode_image(path).to_float()


def decode_image(path: str | os.PathLike[str]) -> DecodedImage:
    """Decode ``path`` to its stored pixels and metadata (see :class:`DecodedImage`).

    Raises :class:`ImageReadError` like :func:`read_image`. Memory: besides the result, Pillow's
    decoded image and a band of :data:`_STRIP_ROWS` rows (numpy's conversion of a whole Pillow
    image would hold two more copies); a 16-bit colour PNG is read whole into memory.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(64)
        data = p.read_bytes() if png16.needs_png16(head) else None
    except FileNotFoundError:
        raise ImageReadError(f"cannot read image {p}: file not found") from None
    except OSError as exc:
        raise ImageReadError(f"cannot read image {p}: {exc.strerror or exc}") from exc
    if not head:
        raise ImageReadError(f"cannot read image {p}: the file is empty")
    if tiff.is_tiff(head):
        decoded = _decode_tiff(p)
        if decoded is not None:
            return decoded
    try:
        with _open_guarded(p, io.BytesIO(data) if data is not None else p) as im:
            if data is not None:
                pixels, white = _read_png16(data, im)
                bits = 16
            else:
                im.load()
                bits = 16 if im.mode in _SIXTEEN_BIT_MODES | {"I", "F"} else 8
                turned = _header_orientation(im) in range(2, 9)
                pixels, white = _pil_pixels(ImageOps.exif_transpose(im) if turned else im)
            icc = im.info.get("icc_profile") or None
            exif = _exif_without_orientation(im)
    except UnidentifiedImageError:
        raise ImageReadError(f"cannot read image {p}: not a recognised image format") from None
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error,
            Image.DecompressionBombError) as exc:
        raise ImageReadError(f"cannot read image {p}: {type(exc).__name__}: {exc}") from exc
    return DecodedImage(np.ascontiguousarray(pixels), white, bits, icc, exif)


def _decode_tiff(p: Path) -> DecodedImage | None:
    """A TIFF decoded through tifffile (:mod:`aioir.data.tiff`), or None where Pillow reads it."""
    limit = max_image_pixels()

    def check_size(width: int, height: int) -> None:
        error = _too_large(p, width, height, limit)
        if error is not None:
            raise error

    try:
        if tiff.header(p) is None:
            return None
        t = tiff.read_tiff(p, check_size)
    except ImageReadError:
        raise
    except Exception as exc:  # tifffile's own errors, named with the file
        raise ImageReadError(f"cannot read image {p}: {type(exc).__name__}: {exc}") from exc
    return DecodedImage(t.pixels, t.white, t.bits, t.icc_profile, t.exif)


def read_images_skipping(
    paths: Iterable[str | os.PathLike[str]], skipped: list[str]
) -> Iterator[tuple[int, np.ndarray]]:
    """``(position, image)`` for every readable file of ``paths``, in order.

    A file that cannot be read is not fatal for a batch job: its :class:`ImageReadError`
    message (which names the file) is appended to ``skipped`` and the loop goes on.

    >>> skipped = []
    >>> list(read_images_skipping(["/nonexistent.png"], skipped)), len(skipped)
    ([], 1)
    """
    for k, path in enumerate(paths):
        try:
            yield k, read_image(path)
        except ImageReadError as exc:
            skipped.append(str(exc))


def _exif(im: Any) -> Any:
    """The EXIF block of an opened image, without decoding it.

    Pillow's ``getexif()`` on a PNG without an ``eXIf`` chunk before the image data decodes the
    whole image to look for one after it; for PNGs only what has been read counts (everything
    once the image is loaded; before, the chunks ahead of the image data).
    """
    from PIL import Image

    if im.format != "PNG":
        return im.getexif()
    exif = Image.Exif()
    if im.info.get("exif"):
        exif.load(im.info["exif"])
    return exif


def _header_orientation(im: Any) -> int:
    """The EXIF orientation an opened (not necessarily loaded) image declares."""
    return int(_exif(im).get(_EXIF_ORIENTATION, 1))


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(height, width)`` of an image from its header, after EXIF orientation; no decoding.

    Raises :class:`ImageReadError` like :func:`read_image`.
    """
    from PIL import UnidentifiedImageError

    p = Path(path)
    found = _tiff_header(p)
    if found is not None:
        height, width, orientation, _ = found
        error = _too_large(p, width, height, max_image_pixels())
        if error is not None:
            raise error
        return (width, height) if orientation in (5, 6, 7, 8) else (height, width)
    try:
        with _open_guarded(p, p) as im:
            width, height = im.size
            if _header_orientation(im) in (5, 6, 7, 8):
                width, height = height, width
    except FileNotFoundError:
        raise ImageReadError(f"cannot read image {p}: file not found") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"cannot read image {p}: not a recognised image format") from None
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"cannot read image {p}: {type(exc).__name__}: {exc}") from exc
    return height, width


def _tiff_header(p: Path) -> tuple[int, int, int, int] | None:
    """:func:`aioir.data.tiff.header` for a TIFF that tifffile reads, else None (not a TIFF,
    missing, or one Pillow reads: the caller's Pillow path then reports any error)."""
    try:
        with open(p, "rb") as fh:
            if not tiff.is_tiff(fh.read(4)):
                return None
        return tiff.header(p)
    except Exception:  # noqa: BLE001 - the Pillow path names the file and the cause
        return None


def stored_sample_bytes(path: str | os.PathLike[str]) -> int | None:
    """Bytes per sample :func:`decode_image` holds for a TIFF read through tifffile (1, 2 or 4),
    from its header; None for any other file."""
    found = _tiff_header(Path(path))
    return None if found is None else found[3]


def _as_hwc(img: Any) -> np.ndarray:
    if hasattr(img, "detach"):  # a torch tensor, CHW
        img = to_numpy(img)
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"expected an image H x W, H x W x 1 or H x W x 3, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("image contains NaN or infinite values")
    return np.clip(a, 0.0, 1.0)


_INTEGER_DTYPES = {8: np.uint8, 16: np.uint16}


def quantize(img: Any, bits: int = 8) -> np.ndarray:
    """A float image in ``[0, 1]`` (HWC numpy or CHW tensor) as ``H x W x C`` integers.

    Clipped to ``[0, 1]``, scaled by ``2**bits - 1`` and rounded (in float64), to ``uint8`` or
    ``uint16``: the values :func:`write_image` stores.

    >>> quantize(np.array([[[0.0, 0.5, 1.2]]]))
    array([[[  0, 128, 255]]], dtype=uint8)
    """
    if bits not in _INTEGER_DTYPES:
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    return np.round(_as_hwc(img) * float(2**bits - 1)).astype(_INTEGER_DTYPES[bits])


#: formats whose Pillow writer stores ``icc_profile`` and ``exif``
_METADATA_FORMATS = {"PNG", "JPEG", "WEBP", "TIFF"}


def write_image(
    path: str | os.PathLike[str],
    img: Any,
    *,
    bits: int = 8,
    quality: int = 95,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
) -> None:
    """Write an image to ``path``, atomically.

    ``img`` is a float image in ``[0, 1]`` (HWC numpy or CHW tensor), clipped and rounded to
    ``bits`` (8, or 16 for PNG and TIFF) by :func:`quantize`, or an already quantised ``uint8``
    (``bits=8``) / ``uint16`` (``bits=16``) HWC array, written as is. The format follows the
    extension (``.png``, ``.jpg``/``.jpeg`` with ``quality`` and 4:4:4 chroma, or anything else
    Pillow writes). Single-channel images are written as greyscale. ``icc_profile`` and ``exif``
    (bytes, as :class:`DecodedImage` holds them) are embedded where the format has a place for
    them (PNG, JPEG, WebP, TIFF) and ignored elsewhere.
    """
    from PIL import Image

    p = Path(path)
    ext = p.suffix.lower()
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    if bits == 16 and ext not in (".png", ".tif", ".tiff"):
        raise ValueError(f"16-bit output is only supported for PNG and TIFF, not {ext!r} ({p})")
    fmt = Image.registered_extensions().get(ext)
    if fmt is None:
        raise ValueError(f"unknown image extension {ext!r} for {p}")
    if isinstance(img, np.ndarray) and img.dtype == _INTEGER_DTYPES[bits]:
        q = img[:, :, None] if img.ndim == 2 else img
        if q.ndim != 3 or q.shape[2] not in (1, 3):
            raise ValueError(
                f"expected an image H x W, H x W x 1 or H x W x 3, got shape {q.shape}"
            )
    else:
        q = quantize(img, bits)
    meta: dict[str, Any] = {}
    if fmt in _METADATA_FORMATS:
        meta = {k: v for k, v in (("icc_profile", icc_profile), ("exif", exif)) if v}
    with atomic_write(p, what="image") as fh:
        if fmt == "TIFF":
            tiff.write_tiff(fh, q, **meta)
        elif bits == 16:
            png16.write_png16(fh, q[..., 0] if q.shape[2] == 1 else q, **meta)
        else:
            pil = Image.fromarray(q[..., 0] if q.shape[2] == 1 else q)
            options = {"quality": int(quality), "subsampling": 0} if fmt == "JPEG" else {}
            pil.save(fh, format=fmt, **options, **meta)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """HWC (or HW) numpy image -> float32 CHW torch tensor (a copy).

    >>> to_tensor(np.zeros((4, 5, 3))).shape
    torch.Size([3, 4, 5])
    """
    import torch

    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"expected H x W x C, got shape {a.shape}")
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """CHW torch tensor -> float32 HWC numpy array (on CPU, detached).

    >>> import torch
    >>> to_numpy(torch.zeros(3, 4, 5)).shape
    (4, 5, 3)
    """
    if t.ndim != 3:
        raise ValueError(f"expected C x H x W, got shape {tuple(t.shape)}")
    return np.ascontiguousarray(t.detach().cpu().float().numpy().transpose(1, 2, 0))


def list_images(root: str | os.PathLike[str], recursive: bool = True) -> list[Path]:
    """Image files under ``root`` (by :data:`IMAGE_EXTENSIONS`, any case), sorted by path.

    Hidden files and folders (names starting with ``.``, e.g. macOS ``._x.png``) are skipped.
    A missing ``root`` raises ``FileNotFoundError``; a file raises ``NotADirectoryError``.
    """
    r = Path(root)
    if not r.exists():
        raise FileNotFoundError(f"image folder {r} does not exist")
    if not r.is_dir():
        raise NotADirectoryError(f"{r} is not a folder")
    found = []
    for p in r.rglob("*") if recursive else r.iterdir():
        rel = p.relative_to(r)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
            found.append(p)
    return sorted(found, key=lambda q: q.relative_to(r).as_posix())
