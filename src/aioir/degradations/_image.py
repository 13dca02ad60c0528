"""Input checks and 8-bit helpers shared by the degradation functions.

>>> import numpy as np
>>> img = check_image(np.full((2, 3, 3), 0.5))
>>> img.dtype, img.shape
(dtype('float32'), (2, 3, 3))
>>> quantize(np.float32([[[0.5, 0.0, 1.0]]])) * 255
array([[[128.,   0., 255.]]], dtype=float32)
"""

from __future__ import annotations

import numpy as np

_TOL = 1e-6


def check_image(img: object, name: str = "img") -> np.ndarray:
    """Validate a float RGB image (H, W, 3) with finite values in [0, 1]; return it as float32.

    Values within 1e-6 outside [0, 1] (rounding noise) are clipped. Raises ``ValueError`` with a
    message saying what is wrong and what is expected.
    """
    if not isinstance(img, np.ndarray):
        raise ValueError(f"{name} must be a numpy array (H, W, 3) float in [0, 1], got {type(img).__name__}")
    if not np.issubdtype(img.dtype, np.floating):
        hint = " (divide uint8 images by 255)" if img.dtype == np.uint8 else ""
        raise ValueError(f"{name} must have a float dtype, got {img.dtype}{hint}")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3) (RGB, channels last), got {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = float(img.min()), float(img.max())
    if lo < -_TOL or hi > 1 + _TOL:
        raise ValueError(f"{name} values must lie in [0, 1], got min {lo:.4g} and max {hi:.4g}")
    out = img.astype(np.float32, copy=False)
    if lo < 0 or hi > 1:
        out = np.clip(out, 0.0, 1.0)
    return out


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round a [0, 1] float image to uint8 (``round(255 x)``, clipped)."""
    return np.clip(np.rint(np.asarray(img, np.float64) * 255.0), 0, 255).astype(np.uint8)


def quantize(img: np.ndarray) -> np.ndarray:
    """Round a [0, 1] float image to the nearest 8-bit level, returned as float32 in [0, 1]."""
    return to_uint8(img).astype(np.float32) / np.float32(255.0)
