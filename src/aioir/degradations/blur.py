"""Isotropic Gaussian blur (MiOIR "blur").

``y = x * k`` with ``k(u, v) ∝ exp(-(u² + v²) / (2 sigma²))`` on a ``kernel_size`` square grid
centred on 0 and normalised to sum 1, image borders reflected without repeating the edge pixel
(PyTorch ``F.pad(mode="reflect")`` as BasicSR's ``filter2D``; ``scipy.ndimage`` mode
``"mirror"``, which also works when the kernel is larger than the image). The 2-D kernel is the
outer product of two normalised 1-D Gaussians, so it is applied as two 1-D passes.

>>> import numpy as np
>>> flat = np.full((5, 7, 3), 0.3, np.float32)
>>> bool(np.allclose(blur(flat, np.random.default_rng(0), sigma=2.0, kernel_size=21), 0.3))
True
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def gaussian_kernel1d(sigma: float, kernel_size: int) -> np.ndarray:
    """Normalised 1-D Gaussian ``g(u) ∝ exp(-u² / (2 sigma²))`` for ``u = -(k//2) .. k//2``."""
    u = np.arange(kernel_size, dtype=np.float64) - kernel_size // 2
    g = np.exp(-(u * u) / (2.0 * sigma * sigma))
    return g / g.sum()


def blur(img: np.ndarray, rng: np.random.Generator, *, sigma: float, kernel_size: int) -> np.ndarray:
    """Blur with an isotropic Gaussian of std ``sigma`` px truncated to ``kernel_size``²."""
    g = gaussian_kernel1d(sigma, kernel_size)
    out = ndimage.correlate1d(img, g, axis=0, mode="mirror")
    out = ndimage.correlate1d(out, g, axis=1, mode="mirror")
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)
