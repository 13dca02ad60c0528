"""Haze by the atmospheric scattering model (MiOIR "haze").

    t = exp(-beta * d)            transmission, d = depth / max(depth)
    y = x * t + A * (1 - t)       A: grey airlight (same value in R, G and B)

``depth`` is an (H, W) (or (H, W, 1)) non-negative array, normalised by its maximum unless
``depth_scale`` is given; without one the colour attenuation prior estimate of
:func:`aioir.degradations.depth.pseudo_depth` is used (see its limits).

>>> import numpy as np
>>> img = np.zeros((2, 2, 3), np.float32)
>>> y = haze(img, np.random.default_rng(0), beta=1.0, airlight=1.0, depth=np.ones((2, 2)))
>>> round(float(y[0, 0, 0]), 6) == round(1 - float(np.exp(-1.0)), 6)
True
"""

from __future__ import annotations

import numpy as np

from aioir.degradations.depth import pseudo_depth


def check_depth(depth: object, shape: tuple[int, int], scale: float | None = None) -> np.ndarray:
    """Validate a depth map for an image of ``shape = (H, W)``; return it divided by ``scale``
    (default: its maximum).

    >>> check_depth(np.array([[1.0, 2.0]]), (1, 2)).tolist(), check_depth([[1, 2]], (1, 2), 4).tolist()
    ([[0.5, 1.0]], [[0.25, 0.5]])
    """
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.shape != tuple(shape):
        raise ValueError(f"depth must have shape {tuple(shape)} (H, W) like the image, got {d.shape}")
    if not np.all(np.isfinite(d)) or float(d.min()) < 0:
        raise ValueError("depth must be finite and non-negative")
    if scale is not None:
        if not scale > 0:
            raise ValueError(f"depth_scale must be positive, got {scale}")
        return d / float(scale)
    top = float(d.max())
    if top <= 0:
        raise ValueError("depth is zero everywhere: it cannot be normalised by its maximum")
    return d / top


def haze(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    beta: float,
    airlight: float,
    depth: np.ndarray | None = None,
    depth_scale: float | None = None,
) -> np.ndarray:
    """Apply ``y = x * t + A * (1 - t)``, ``t = exp(-beta * d)``; deterministic (``rng`` unused).

    ``d = depth / depth_scale``; ``depth_scale`` defaults to the map's maximum. A crop of a
    larger image passes the whole image's maximum, as MiOIR normalises over the full image.
    """
    d = pseudo_depth(img) if depth is None else check_depth(depth, img.shape[:2], depth_scale)
    t = np.exp(-beta * d).astype(np.float32)[:, :, None]
    out = img * t + np.float32(airlight) * (1 - t)
    return np.clip(out, 0.0, 1.0, out=out)
