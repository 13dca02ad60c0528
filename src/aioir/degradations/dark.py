"""Low light (MiOIR "dark"): a gamma curve ``y = x ** gamma`` with ``gamma >= 1``.

>>> import numpy as np
>>> float(dark(np.full((1, 1, 3), 0.5, np.float32), np.random.default_rng(0), gamma=2.0)[0, 0, 0])
0.25
"""

from __future__ import annotations

import numpy as np


def dark(img: np.ndarray, rng: np.random.Generator, *, gamma: float) -> np.ndarray:
    """Darken with ``y = x ** gamma``; deterministic (``rng`` unused)."""
    return np.power(img, np.float32(gamma), dtype=np.float32)
