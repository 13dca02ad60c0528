"""Haze by the atmospheric scattering model (MiOIR "haze").

    t = exp(-beta * d)            transmission, d = depth / max(depth)
    y = x * t + A * (1 - t)       A: grey airlight (same value in R, G and B)

``depth`` is an (H, W) (or (H, W, 1)) non-negative array; without one the colour attenuation
prior estimate of :func:`aioir.degradations.depth.pseudo_depth` is used (see its limits).

>>> import numpy as np
>>> img = np.zeros((2, 2, 3), np.float32)
>>> y = haze(img, np.random.default_rng(0), beta=1.0, airlight=1.0, depth=np.ones((2, 2)))
>>> round(float(y[0, 0, 0]), 6) == round(1 - float(np.exp(-1.0)), 6)
True
"""

from __future__ import annotations

import numpy as np

from aioir.degradations.depth import pseudo_depth


def check_depth(depth: object, shape: tuple[int, int]) -> np.ndarray:
    """Validate a depth map for an image of ``shape = (H, W)``; return it normalised by its max."""
    d = np.asarray(depth, dtype=np.float64)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.shape != tuple(shape):
        raise ValueError(f"depth must have shape {tuple(shape)} (H, W) like the image, got {d.shape}")
    if not np.all(np.isfinite(d)) or float(d.min()) < 0:
        raise ValueError("depth must be finite and non-negative")
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
) -> np.ndarray:
    """Apply ``y = x * t + A * (1 - t)``, ``t = exp(-beta * d)``; deterministic (``rng`` unused)."""
    d = pseudo_depth(img) if depth is None else check_depth(depth, img.shape[:2])
    t = np.exp(-beta * d).astype(np.float32)[:, :, None]
    out = img * t + np.float32(airlight) * (1 - t)
    return np.clip(out, 0.0, 1.0, out=out)
