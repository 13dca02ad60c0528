"""Restore image files with a trained backbone within a memory budget: :class:`Restorer`.

What ``aioir restore`` and ``aioir serve`` use. It measures the network's activation memory once
(:func:`~aioir.inference.memory.calibrate`), then for each image plans the windows that fit the
budget (:func:`~aioir.inference.memory.plan_tiles`; an image that fits is restored whole,
exactly), restores them in batches through the one tiling path
(:func:`aioir.models.tiling.blend_rows`), optionally averaged over the 8 flips
(:mod:`~aioir.inference.ensemble`) and with TUR's uncertainty map
(:mod:`~aioir.inference.uncertainty`), and writes the result with the input's bit depth (8 or
16), ICC profile and EXIF (orientation applied). The input is held as stored (``uint8`` for
8-bit files) and the output is quantised band by band, so an image needs about ``H x W x 3``
bytes twice plus the windows, never a float copy of itself.

One float image with a fixed tile (what ``aioir eval`` and validation use) is
:func:`aioir.models.restore.restore_image`; both run windows through
:func:`aioir.models.tiling.blend_rows`.

>>> import numpy as np
>>> from aioir import models
>>> net = models.build("tiny_unet", width=8)   # identity at initialisation
>>> r = Restorer(net, max_memory=256 * 2**20)
>>> img = np.random.default_rng(0).random((20, 30, 3), dtype=np.float32)
>>> out = r.restore_array(img)
>>> out.shape, bool(np.allclose(out, img, atol=1e-6))
((20, 30, 3), True)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from aioir.data import png16
from aioir.data.io import decode_image, image_size, quantize, stored_sample_bytes, write_image
from aioir.inference import memory_cache
from aioir.inference.ensemble import ensemble_extra_bytes, with_ensemble
from aioir.inference.memory import (
    ActivationCost,
    BudgetError,
    calibrate,
    default_budget,
    format_bytes,
    plan_tiles,
)
from aioir.inference.uncertainty import head_border, with_uncertainty
from aioir.models.hooks import hooks
from aioir.models.tiling import TilePlan, blend_rows

#: rows quantised at a time when a finished band is stored (bounds the float64 temporary)
_QUANTIZE_ROWS = 64


@dataclass
class Restored:
    """One restored image: ``image`` (``H x W x 3``: ``uint8``/``uint16`` as asked, or float32 in
    [0, 1]) and, when the
    network carries an uncertainty head, ``uncertainty`` (``H x W`` float32, the head's map
    averaged over its channels)."""

    image: np.ndarray
    plan: TilePlan
    uncertainty: np.ndarray | None = None
    #: what a network that routes by degradation saw in the image (:meth:`Restorer.detect`)
    detected: dict[str, Any] | None = None


@dataclass
class FileReport:
    """What :meth:`Restorer.restore_file` did."""

    source: Path
    target: Path
    plan: TilePlan
    bits: int
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: what a network that routes by degradation saw in the image (:meth:`Restorer.detect`)
    detected: dict[str, Any] | None = None


@contextmanager
def _pixel_limit_lifted() -> Iterator[None]:
    """Pillow's decompression-bomb limit off, for a file whose size the budget has accepted.

    Process-wide while it lasts (Pillow keeps the limit in a module global): used by the
    command-line restore only; the web app checks and decodes uploads with the limit in place.
    """
    from PIL import Image

    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _stored_sample_bytes(path: Path) -> tuple[int, bool]:
    """``(bytes per sample, through the 16-bit PNG codec)`` that
    :func:`~aioir.data.io.decode_image` will hold for ``path``, from the header only: 1 for 8-bit
    files, 2 for 16-bit ones, 4 where it composites alpha or reads floats."""
    from PIL import Image

    through_tifffile = stored_sample_bytes(path)
    if through_tifffile is not None:
        return through_tifffile, False
    with open(path, "rb") as fh:
        head = fh.read(64)
    if png16.needs_png16(head):
        return (4 if png16.png_header(head)[3] in (4, 6) else 2), True  # type: ignore[index]
    with Image.open(path) as im:
        mode, info = im.mode, im.info
    if mode in ("RGBA", "LA", "PA", "RGBa", "La", "I", "F") or "transparency" in info:
        return 4, False
    return (2 if mode.startswith("I;16") else 1), False


def io_peaks(height: int, width: int, sample: int, bits: int, file_bytes: int,
             png16_codec: bool) -> tuple[int, int]:
    """Peak memory of decoding and of writing an image (besides the restore's windows).

    Decoding: Pillow's image (RGB held as 4 bytes a pixel), the array (``sample`` bytes a
    value), bands of 1024 rows (of the image's own height when it has fewer: an 8 x 80000
    image is not charged 1024 rows); the 16-bit PNG codec holds the file and about three
    arrays.
    Writing: the output, plus Pillow's copy of it for an 8-bit PNG (the 16-bit writer streams).
    Measured for a 12000 x 12000 8-bit PNG: 1058 MiB to decode, 2.6 times the array.
    """
    pixels = height * width
    held = pixels * 3 * sample
    if png16_codec:
        decode = file_bytes + 4 * held
    else:
        decode = pixels * 4 + held + 2 * min(1024, height) * width * 4 * max(sample, 1) * 3
    out = pixels * 3 * (bits // 8)
    write = out + (pixels * 4 if bits == 8 else 0)
    return int(decode), int(write)


#: largest side the degradation classifier of :meth:`Restorer.detect` reads (central crop)
DETECT_SIDE = 1024

#: measured activation costs, per (architecture, device, uncertainty head)
_CALIBRATED: dict[tuple[object, ...], ActivationCost] = {}


def architecture_key(model: nn.Module) -> tuple[object, ...]:
    """What a network's activation memory depends on: its class and its parameters' and
    buffers' names and shapes (the weights' values do not matter)."""
    shapes = tuple((n, tuple(t.shape), str(t.dtype)) for n, t in model.state_dict().items())
    return (type(model).__module__, type(model).__qualname__, shapes)


class Restorer:
    """A network ready to restore images of any size within a memory budget.

    Args:
        model: the backbone (moved to ``device``, put in eval mode).
        device: where the network runs.
        max_memory: working-memory budget in bytes (``None``: :func:`default_budget`). On CPU it
            covers the image buffers and the windows' activations; on CUDA the activations on the
            device (the image stays in host memory).
        tile: fixed window side (``None``: planned from the budget).
        overlap: window overlap in pixels.
        ensemble: ``"none"`` or ``"flips"`` (8 transforms averaged).
        uncertainty: TUR's uncertainty head on the backbone's tap, or None
            (:func:`~aioir.inference.uncertainty.load_uncertainty_head`).
        max_batch: most windows per forward.
        network: the backbone's name and options, part of the key under which the memory
            measurement is kept on disk (:mod:`~aioir.inference.memory_cache`).
        tasks: the network's tasks in order (names what :meth:`detect` reports).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        device: torch.device | str = "cpu",
        max_memory: int | None = None,
        tile: int | None = None,
        overlap: int = 32,
        ensemble: str = "none",
        uncertainty: nn.Module | None = None,
        max_batch: int = 16,
        network: Mapping[str, Any] | None = None,
        tasks: Sequence[str] | None = None,
    ) -> None:
        if tile is not None and tile <= overlap:
            raise ValueError(f"--tile ({tile}) must be larger than --overlap ({overlap})")
        if overlap < 0:
            raise ValueError(f"--overlap must be >= 0, got {overlap}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.budget = default_budget(self.device) if max_memory is None else int(max_memory)
        self.tile, self.overlap, self.max_batch = tile, overlap, max_batch
        self.ensemble = ensemble
        base: Callable[[torch.Tensor], torch.Tensor] = self.model
        if uncertainty is not None:
            base = with_uncertainty(self.model, uncertainty.to(self.device).eval())
        self._base = base
        self.fn = with_ensemble(base, ensemble)
        self.channels_out = 3 + (1 if uncertainty is not None else 0)

        #: pixels at each side of the uncertainty map made from the head's zero padding
        self.uncertainty_border = head_border(uncertainty) if uncertainty is not None else 0
        import json

        described = json.dumps(dict(network or {}), sort_keys=True, default=str)
        self._key = (architecture_key(self.model), str(self.device), uncertainty is not None,
                     described)
        self._disk_key = (self._key, dict(network or {}),
                          None if uncertainty is None else architecture_key(uncertainty))
        self.tasks = list(tasks or [])

        self._classify = hooks(self.model).degradation_probabilities
        self._measured: ActivationCost | None = None
        #: where :attr:`cost` came from: "measured", "process" or "disk" (None before asked)
        self.cost_source: str | None = None
        #: told of each forward of the memory measurement (a display), when set
        self.measure_progress: Callable[[int], None] | None = None

    @property
    def cost(self) -> ActivationCost:
        """The window function's activation memory: the network's (and the uncertainty head's)
        measured once per architecture and device (:func:`calibrate`, cached for the process and
        on disk, :mod:`~aioir.inference.memory_cache`; a fit that a small budget cut short, on
        small forwards only, is not cached),
        plus, for the flip ensemble, its buffers (:func:`ensemble_extra_bytes`).
        :attr:`measure_progress`, when set, is called with 1 after each measured forward."""
        if self._measured is None:
            arch, device, head, _ = self._key
            disk = memory_cache.cost_key({  # what the measurement depends on (module notes)
                "architecture": repr(arch), "network": self._disk_key[1], "head":
                repr(self._disk_key[2]), "device": memory_cache.device_label(self.device),
                "dtype": "float32"})
            cached = _CALIBRATED.get(self._key)
            self.cost_source = "process"
            if cached is None:
                cached, self.cost_source = memory_cache.load_cost(disk), "disk"
            if cached is None:
                self.cost_source = "measured"
            self._measured = cached or calibrate(self._base, device=self.device, budget=self.budget,
                                                 progress=self.measure_progress)
            if self._measured.points == 3:
                _CALIBRATED[self._key] = self._measured
                if cached is None:
                    memory_cache.store_cost(disk, self._measured, {
                        "class": f"{arch[0]}.{arch[1]}", **self._disk_key[1], "device": device,
                        "uncertainty_head": head})
        cost = self._measured
        if self.ensemble != "none":
            extra = ensemble_extra_bytes(3, self.channels_out)
            cost = ActivationCost(cost.constant, cost.per_pixel + extra, cost.quadratic)
        return cost

    @torch.no_grad()
    def detect(self, pixels: np.ndarray, white: float = 1.0) -> dict[str, Any] | None:
        """What a network that routes by degradation recognises in an ``H x W x 3`` image
        (its ``degradation_probabilities`` hook, :mod:`aioir.models.hooks`), or None for the
        others: ``{"task": most likely class, "probability": p, "probabilities": {class: p}}``.
        Classes are :attr:`tasks`, then ``"clean"`` when the network has one more class
        (``"class <k>"`` when the tasks are not known). The classifier reads the whole image,
        or its central :data:`DETECT_SIDE` x :data:`DETECT_SIDE` crop when larger (a tiled
        restore routes each window by what the classifier sees in it)."""
        if self._classify is None:
            return None
        h, w = pixels.shape[:2]
        y0, x0 = max((h - DETECT_SIDE) // 2, 0), max((w - DETECT_SIDE) // 2, 0)
        crop = np.asarray(pixels[y0:y0 + DETECT_SIDE, x0:x0 + DETECT_SIDE], dtype=np.float32)
        x = torch.from_numpy(crop / float(white)).permute(2, 0, 1)[None].to(self.device)
        probs = self._classify(x)[0].float().cpu().tolist()
        names = list(self.tasks)
        if len(probs) == len(names) + 1:
            names.append("clean")
        if len(probs) != len(names):
            names = [f"class {k}" for k in range(len(probs))]
        best = int(np.argmax(probs))
        return {"task": names[best], "probability": round(probs[best], 4),
                "probabilities": {n: round(p, 4) for n, p in zip(names, probs)}}

    def plan(self, height: int, width: int, *, fixed: int = 0) -> TilePlan:
        """The windows for an ``height x width`` image with ``fixed`` bytes of image buffers."""
        host_fixed = fixed if self.device.type == "cpu" else 0
        return plan_tiles(height, width, cost=self.cost, budget=self.budget, fixed=host_fixed,
                          overlap=self.overlap, tile=self.tile, channels_out=self.channels_out,
                          max_batch=self.max_batch)

    @torch.no_grad()
    def restore_pixels(
        self,
        pixels: np.ndarray,
        white: float,
        *,
        bits: int | None = 8,
        plan: TilePlan | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Restored:
        """Restore ``pixels / white`` (``H x W x 3``, any dtype) into ``bits``-bit integers
        (``bits=None``: float32 in [0, 1])."""
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"expected an H x W x 3 image, got shape {pixels.shape}")
        h, w, _ = pixels.shape
        dtype = {8: np.uint8, 16: np.uint16, None: np.float32}[bits]
        out = np.empty((h, w, 3), dtype=dtype)
        if plan is None:
            plan = self.plan(h, w, fixed=pixels.nbytes + out.nbytes + self._map_bytes(h, w))
        umap = np.empty((h, w), dtype=np.float32) if self.channels_out > 3 else None
        scale = float(white)

        def read(y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
            window = np.array(pixels[y0:y1, x0:x1])  # a copy: the pixels may be read-only
            t = torch.from_numpy(window).permute(2, 0, 1)
            t = t.to(torch.float32)
            return t / scale if scale != 1.0 else t

        for y0, block in blend_rows(self.fn, read, plan, device=self.device, progress=progress):
            rows = block.shape[1]
            for r in range(0, rows, _QUANTIZE_ROWS):
                part = block[:3, r : r + _QUANTIZE_ROWS].permute(1, 2, 0).numpy()
                rows_out = out[y0 + r : y0 + r + part.shape[0]]
                rows_out[...] = np.clip(part, 0.0, 1.0) if bits is None else quantize(part, bits)
            if umap is not None:
                umap[y0 : y0 + rows] = block[3].numpy()
        return Restored(out, plan, umap, self.detect(pixels, white))

    def restore_array(self, img: np.ndarray) -> np.ndarray:
        """Restore a float32 HWC image in [0, 1] (within the budget); float32 result."""
        return self.restore_pixels(np.asarray(img, dtype=np.float32), 1.0, bits=None).image

    def file_plan(self, src: str | os.PathLike[str]) -> tuple[TilePlan, int]:
        """``(plan, bits)`` for an image file, from its header alone (nothing decoded).

        Raises :class:`~aioir.data.io.ImageReadError` for an unreadable file and
        :class:`~aioir.inference.memory.BudgetError` when it cannot fit the budget.
        """
        src = Path(src)
        with _pixel_limit_lifted():  # a header only: the budget below is the guard
            h, w = image_size(src)
            sample, codec = _stored_sample_bytes(src)
        bits = 8 if sample == 1 else 16
        held = h * w * 3 * sample
        out_bytes = h * w * 3 * (bits // 8)
        decode, write = io_peaks(h, w, sample, bits, src.stat().st_size, codec)
        if self.device.type == "cpu":
            for what, need in (("decoding", decode), ("writing", write)):
                if need > self.budget:
                    raise BudgetError(
                        f"{src} is {w} x {h}: {what} it needs about {format_bytes(need)}, over "
                        f"the budget of {format_bytes(self.budget)}; raise --max-memory"
                    )
        return self.plan(h, w, fixed=held + out_bytes + self._map_bytes(h, w)), bits

    def _map_bytes(self, height: int, width: int) -> int:
        """The uncertainty map's buffer (float32), when there is one."""
        return 4 * height * width if self.channels_out > 3 else 0

    def restore_file(
        self,
        src: str | os.PathLike[str],
        dst: str | os.PathLike[str],
        *,
        planned: tuple[TilePlan, int] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> FileReport:
        """Restore the image file ``src`` into ``dst`` (PNG), keeping bit depth and metadata.

        The plan is made from the header before anything is decoded, so an image too large for
        the budget is refused (:class:`~aioir.inference.memory.BudgetError`) without allocating
        it; that check replaces Pillow's decompression-bomb limit, which is lifted for the
        decoding of an accepted file. ``planned``: :meth:`file_plan`'s answer, if already asked.
        """
        import time

        src, dst = Path(src), Path(dst)
        t0 = time.perf_counter()
        plan, bits = planned if planned is not None else self.file_plan(src)
        with _pixel_limit_lifted():
            decoded = decode_image(src)
        res = self.restore_pixels(decoded.pixels, decoded.white, bits=bits, plan=plan,
                                  progress=progress)
        icc, exif = decoded.icc_profile, decoded.exif
        del decoded
        write_image(dst, res.image, bits=bits, icc_profile=icc, exif=exif)
        return FileReport(src, dst, plan, bits, time.perf_counter() - t0, detected=res.detected)
