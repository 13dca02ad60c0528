"""Low resolution (MiOIR "sr"): bicubic x1/scale down, then bicubic back up to H x W.

The restored target keeps the input size, as in MiOIR: ``y = up(down(x))`` with
``down`` a bicubic resize to ``(max(1, H // scale), max(1, W // scale))`` and ``up`` a
bicubic resize back to ``(H, W)``, both as PyTorch's ``F.interpolate(mode="bicubic")``
(what MiOIR's scripts used; no anti-aliasing unless ``antialias=True``).

>>> import numpy as np
>>> img = np.random.default_rng(0).random((9, 13, 3)).astype(np.float32)
>>> sr(img, np.random.default_rng(0), scale=4).shape
(9, 13, 3)
"""

from __future__ import annotations

import numpy as np

from aioir.degradations.resize import resize_bicubic


def sr(img: np.ndarray, rng: np.random.Generator, *, scale: int = 4, antialias: bool = False) -> np.ndarray:
    """Bicubic down by ``scale`` and back up to the input size; deterministic (``rng`` unused)."""
    h, w = img.shape[:2]
    small = resize_bicubic(img, (max(1, h // scale), max(1, w // scale)), scale=scale, antialias=antialias)
    up = resize_bicubic(small, (h, w))
    return np.clip(up, 0.0, 1.0, out=up)
