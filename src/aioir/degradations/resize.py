"""Bicubic resizing as separable weight matrices (no per-pixel loops).

``resize_bicubic(img, (h, w))`` follows PyTorch's ``F.interpolate(mode="bicubic",
align_corners=False)`` — the resize MiOIR's data scripts ran: cubic convolution with
``a = -0.75``, half-pixel centres, border indices clamped, no anti-aliasing. With
``antialias=True`` a downscale widens the kernel by the scale factor and uses ``a = -0.5``
(the Pillow / ``antialias=True`` convention), like MATLAB's ``imresize``.

>>> import numpy as np
>>> img = np.full((10, 7, 3), 0.25, np.float32)
>>> small = resize_bicubic(img, (2, 1), scale=4)
>>> small.shape, bool(np.allclose(small, 0.25))
((2, 1, 3), True)
"""

from __future__ import annotations

import numpy as np


def cubic(x: np.ndarray, a: float = -0.75) -> np.ndarray:
    """Keys' cubic convolution kernel ``W(x)`` with parameter ``a`` (support ``|x| < 2``)."""
    x = np.abs(x)
    x2, x3 = x * x, x * x * x
    near = (a + 2) * x3 - (a + 3) * x2 + 1
    far = a * x3 - 5 * a * x2 + 8 * a * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def bicubic_matrix(n_in: int, n_out: int, step: float | None = None, *, antialias: bool = False) -> np.ndarray:
    """The ``(n_out, n_in)`` matrix ``M`` with ``resized = M @ signal`` along one axis.

    ``step`` is the distance in input pixels between two output pixels (``n_in / n_out`` by
    default; PyTorch uses ``1 / scale_factor`` when a scale factor is given). Output pixel ``i``
    is centred on input coordinate ``(i + 0.5) * step - 0.5``.
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be >= 1, got n_in={n_in}, n_out={n_out}")
    step = n_in / n_out if step is None else float(step)
    out_idx = np.arange(n_out, dtype=np.float64)
    if antialias:
        # Pillow / torch antialias: widened support, a = -0.5, taps inside the image renormalised.
        widen = max(step, 1.0)
        support = 2.0 * widen
        centre = step * (out_idx + 0.5)
        lo = np.maximum(np.trunc(centre - support + 0.5), 0)
        hi = np.minimum(np.trunc(centre + support + 0.5), n_in)
        j = np.arange(n_in, dtype=np.float64)[None, :]
        w = cubic((j - centre[:, None] + 0.5) / widen, a=-0.5)
        w = np.where((j >= lo[:, None]) & (j < hi[:, None]), w, 0.0)
        return w / w.sum(axis=1, keepdims=True)
    src = (out_idx + 0.5) * step - 0.5
    base = np.floor(src)
    mat = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.repeat(np.arange(n_out), 4)
    taps = np.stack([base - 1, base, base + 1, base + 2], axis=1)
    weights = cubic(taps - src[:, None])
    cols = np.clip(taps, 0, n_in - 1).astype(np.int64)
    np.add.at(mat, (rows, cols.ravel()), weights.ravel())
    return mat


def resize_bicubic(
    img: np.ndarray, size: tuple[int, int], *, scale: float | None = None, antialias: bool = False
) -> np.ndarray:
    """Resize an (H, W, C) float image to ``size = (h, w)`` with bicubic interpolation.

    ``scale`` (input pixels per output pixel, e.g. 4 for a x1/4 downscale) fixes the sampling
    step as PyTorch does for ``scale_factor=1/scale``; by default the step is ``H / h``. The
    result is not clipped (bicubic overshoots slightly at edges).
    """
    h_in, w_in = img.shape[:2]
    h, w = size
    mh = bicubic_matrix(h_in, h, scale, antialias=antialias).astype(np.float32)
    mw = bicubic_matrix(w_in, w, scale, antialias=antialias).astype(np.float32)
    tmp = np.tensordot(mh, img, axes=(1, 0))  # (h, W, C)
    out = np.tensordot(tmp, mw, axes=(1, 1))  # (h, C, w)
    return np.ascontiguousarray(out.transpose(0, 2, 1), dtype=np.float32)
