"""A pseudo-depth map estimated from a clean RGB image, for haze synthesis without real depth.

MiOIR hazes each photo with a depth map predicted by a monocular depth network. Without one,
:func:`pseudo_depth` uses the **colour attenuation prior** (Zhu, Mai & Shao, "A Fast Single Image
Haze Removal Algorithm Using Color Attenuation Prior", IEEE TIP 2015): scene depth grows with
brightness and falls with saturation,

    d = 0.121779 + 0.959710 * v - 0.780245 * s        (their fitted linear model)

with ``v = max(R, G, B)`` and ``s = (max - min) / max`` (HSV value and saturation). As in the
paper a local minimum filter suppresses small bright objects, then a Gaussian smooths the map so
that haze follows regions rather than texture. The score is finally rescaled to [0, 1] over the
image (``(d - min) / (max - min)``: a *relative* depth, nearest region 0, farthest 1, so its
maximum is 1 as MiOIR's normalised depth). Rescaling rather than clipping matters: on clean
photographs the linear model is negative over saturated regions, and clipping left about half of
the pixels of scikit-image's sample photographs haze-free.

Limits: it is a heuristic fitted on hazy photographs. On clean images it puts bright, grey
regions (sky, white walls, clouds) far and dark or saturated regions near, so a white object in
the foreground is hazed as if distant, and the map carries no geometry. Pass a real ``depth=``
map to :func:`aioir.degradations.haze.haze` when you have one. The nearest region gets no haze at
all (depth 0), whereas real normalised depth rarely reaches 0. If the score is the same everywhere
(a flat image), a uniform depth of 1 (homogeneous fog) is used.

>>> import numpy as np
>>> img = np.zeros((8, 8, 3), np.float32); img[:4] = 0.9  # bright grey top, black bottom
>>> d = pseudo_depth(img)
>>> d.shape, float(d.max()), bool(d[0].mean() > d[-1].mean())
((8, 8), 1.0, True)
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

CAP_THETA = (0.121779, 0.959710, -0.780245)  # theta_0, theta_1 (value), theta_2 (saturation)


def pseudo_depth(img: np.ndarray) -> np.ndarray:
    """Colour-attenuation-prior relative depth of an (H, W, 3) image; (H, W) float32 in [0, 1].

    The minimum filter is ``max(1, min(H, W) // 32) | 1`` pixels wide (15 px at 480 px, the
    paper's window) and the Gaussian has ``sigma = max(0.5, min(H, W) / 64)`` pixels.
    """
    h, w = img.shape[:2]
    r, g, b = img[:, :, 0], img[:, :, 1], img[:, :, 2]
    mx = np.maximum(np.maximum(r, g), b)  # much faster than img.max(axis=2) on a 3-long axis
    mn = np.minimum(np.minimum(r, g), b)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-12), 0.0)
    t0, t1, t2 = CAP_THETA
    d = t0 + t1 * mx + t2 * sat
    side = min(h, w)
    d = ndimage.minimum_filter(d, size=max(1, side // 32) | 1, mode="nearest")
    d = ndimage.gaussian_filter(d, sigma=max(0.5, side / 64.0), mode="nearest")
    lo, hi = float(d.min()), float(d.max())
    if hi - lo <= 1e-6:
        return np.ones((h, w), np.float32)
    return ((d - lo) / (hi - lo)).astype(np.float32)
