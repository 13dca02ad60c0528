"""Additive white Gaussian noise (MiOIR "noise", and the fixed-level ``denoise_*`` tasks).

``y = clip(x + n, 0, 1)`` with ``n ~ N(0, (sigma / 255)²)`` drawn independently per pixel and
per RGB channel; ``sigma`` is on the 0-255 scale.

>>> import numpy as np
>>> grey = np.full((64, 64, 3), 0.5, np.float32)
>>> y = noise(grey, np.random.default_rng(0), sigma=25)
>>> bool(abs(float(y.std()) * 255 - 25) < 1)
True
"""

from __future__ import annotations

import numpy as np


def noise(img: np.ndarray, rng: np.random.Generator, *, sigma: float) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``sigma / 255`` and clip to [0, 1]."""
    n = rng.standard_normal(img.shape, dtype=np.float32)
    out = img + n * np.float32(sigma / 255.0)
    return np.clip(out, 0.0, 1.0, out=out)
