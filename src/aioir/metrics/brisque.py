"""BRISQUE, the Blind/Referenceless Image Spatial Quality Evaluator (Mittal, Moorthy and Bovik,
"No-Reference Image Quality Assessment in the Spatial Domain", IEEE TIP 2012): a no-reference
score on [0, 100], lower is better.

Computed as OpenCV contrib's ``quality`` module computes it (``QualityBRISQUE``, a port of the
authors' C++ release), with its model trained on the LIVE database (``brisque_model_live.yml``,
``brisque_range_live.yml``), whose numbers are shipped here as ``aioir/metrics/data/
brisque_live.npz`` (provenance and licence in that folder's ``PROVENANCE.md``). Steps: the grey
image (OpenCV's ``BGR2GRAY`` weights for uint8) on [0, 1]; at two scales (the image, then a
bicubic resize to half its size, OpenCV's ``INTER_CUBIC``) the mean-subtracted
contrast-normalised coefficients (7 x 7 Gaussian, sigma 7/6, replicated border; 1/255 added to
the deviation) and the 18 features of asymmetric generalised Gaussian fits to them and to their
products with 4 neighbours (zero outside the image); the 36 features scaled to [-1, 1] by the
model's ranges; an epsilon-SVR with an RBF kernel; the score clamped to [0, 100].

Checked against OpenCV's own ``cv2.quality.QualityBRISQUE_compute`` (opencv-contrib 5.1.0) on
scikit-image photographs (``tests/metrics/test_brisque.py``): the 36 features, scaled as the
model scales them, agree to 7e-4, the scores to 0.04 on the 0-100 scale (astronaut 0.492 /
0.494, coffee 3.613 / 3.606, chelsea 2.066 / 2.066, rocket 9.181 / 9.212). The rest is
single-precision arithmetic in a different order (OpenCV's float32 filters and resize): the
shape search on a 0.001 grid turns a difference in the 7th digit into one grid step now and
then, which the SVR amplifies.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> smooth = np.cumsum(np.cumsum(rng.normal(size=(128, 128)), 0), 1)
>>> img = (smooth - smooth.min()) / np.ptp(smooth)
>>> noisy = np.clip(img + rng.normal(0, 0.1, img.shape), 0, 1)
>>> bool(brisque(noisy) > brisque(img))
True
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from aioir.degradations.resize import resize_bicubic

__all__ = ["brisque", "brisque_features", "gray_01"]

#: the smallest side BRISQUE accepts (the half-size scale needs 7 x 7 windows)
MIN_SIDE = 16


@lru_cache(maxsize=1)
def _model() -> dict[str, np.ndarray]:
    from importlib.resources import files

    with (files("aioir.metrics") / "data" / "brisque_live.npz").open("rb") as f:
        data = np.load(f, allow_pickle=False)
        return {k: np.array(data[k]) for k in data.files}


def gray_01(img: Any) -> np.ndarray:
    """Grey float32 image on [0, 1]: OpenCV's ``cvtColor(BGR2GRAY)`` of uint8 RGB (fixed-point
    weights 4899, 9617, 1868 / 2^14 for R, G, B, rounded), divided by 255; float input in
    [0, 1] is rounded to uint8 first; a grey image is used as it is.

    >>> (gray_01(np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)) * 255).round(3)
    array([[ 76., 150.,  29.]], dtype=float32)
    """
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.round(np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] == 3:
        c = arr.astype(np.int64)
        arr = ((c[..., 0] * 4899 + c[..., 1] * 9617 + c[..., 2] * 1868 + (1 << 13)) >> 14)
    elif arr.ndim != 2:
        raise ValueError(f"BRISQUE needs an H x W x 3 RGB or an H x W grey image, got shape "
                         f"{arr.shape}")
    return (arr.astype(np.float32) * np.float32(1.0 / 255.0)).astype(np.float32)


def _gaussian_blur(x: np.ndarray) -> np.ndarray:
    """7 x 7 Gaussian blur, sigma 7/6, replicated border (OpenCV's ``GaussianBlur``), float32
    out."""
    from scipy.ndimage import correlate1d

    t = np.arange(7) - 3.0
    k = np.exp(-(t ** 2) / (2 * (7.0 / 6.0) ** 2))
    k = (k / k.sum()).astype(np.float32)
    out = correlate1d(x, k, axis=1, mode="nearest", output=np.float32)
    return correlate1d(out, k, axis=0, mode="nearest", output=np.float32)


@lru_cache(maxsize=1)
def _shape_curve() -> tuple[np.ndarray, np.ndarray]:
    """The shapes OpenCV searches (0.2 upward by 0.001, accumulated in double as its loop does)
    and the ratio ``Gamma(2/g)^2 / (Gamma(1/g) Gamma(3/g))`` of each."""
    from scipy.special import gamma

    shapes = np.cumsum(np.concatenate([[0.2], np.full(9800, 0.001)]))
    shapes = shapes[shapes < 10]
    return shapes, gamma(2 / shapes) ** 2 / (gamma(1 / shapes) * gamma(3 / shapes))


def _aggd(x: np.ndarray) -> tuple[float, float, float]:
    """(shape, left sigma, right sigma) as OpenCV's ``AGGDfit``: moment estimates, and the
    first shape of the grid where ``|ratio - r|`` stops decreasing."""
    v = x.astype(np.float64).ravel()
    pos, neg = v[v > 0], v[v < 0]
    if pos.size == 0 or neg.size == 0:
        raise ValueError("BRISQUE is undefined for a flat image (no contrast to fit)")
    left = math.sqrt(float(np.sum(neg * neg)) / neg.size)
    right = math.sqrt(float(np.sum(pos * pos)) / pos.size)
    g = left / right
    total = v.size
    r = (float(np.sum(np.abs(v))) / total) ** 2 / (float(np.sum(v * v)) / total)
    r_norm = r * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    shapes, curve = _shape_curve()
    diff = np.abs(curve - r_norm)
    rising = np.flatnonzero(diff[1:] > diff[:-1])
    best = int(rising[0]) if rising.size else len(shapes) - 1
    return float(shapes[best]), left, right


def _shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``out[i, j] = x[i + dy, j + dx]`` inside the image, 0 outside.

    >>> _shifted(np.arange(6.0).reshape(2, 3), 1, -1).tolist()
    [[0.0, 3.0, 4.0], [0.0, 0.0, 0.0]]
    """
    out = np.zeros_like(x)
    h, w = x.shape
    out[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = \
        x[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
    return out


def brisque_features(img: Any) -> np.ndarray:
    """The 36 BRISQUE features (float32) of an image (see :func:`gray_01` for the input)."""
    from scipy.special import gamma

    gray = gray_01(img)
    h, w = gray.shape
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"BRISQUE needs an image of at least {MIN_SIDE} x {MIN_SIDE} px; "
                         f"this one is {w} x {h}")
    features: list[float] = []
    for scale in (1, 2):
        x = gray if scale == 1 else resize_bicubic(gray[..., None], (h // 2, w // 2))[..., 0]
        mu = _gaussian_blur(x)
        sigma = _gaussian_blur(x * x)
        sigma = np.sqrt(np.abs(sigma - mu * mu)) + np.float32(1.0 / 255.0)
        mscn = ((x - mu) / sigma).astype(np.float32)
        alpha, left, right = _aggd(mscn)
        features += [alpha, (left * left + right * right) / 2]
        for dy, dx in ((0, 1), (1, 0), (1, 1), (-1, 1)):
            alpha, left, right = _aggd(mscn * _shifted(mscn, dy, dx))
            const = math.sqrt(gamma(1 / alpha)) / math.sqrt(gamma(3 / alpha))
            mean = (right - left) * (gamma(2 / alpha) / gamma(1 / alpha)) * const
            features += [alpha, mean, left * left, right * right]
    return np.asarray(features, dtype=np.float32)


def brisque(img: Any) -> float:
    """BRISQUE score of an image on [0, 100] (lower: better). ``img``: RGB H x W x 3 (uint8,
    or float in [0, 1], rounded to uint8 first) or grey H x W, at least 16 px a side."""
    model = _model()
    lo, hi = model["feature_range"]
    f = brisque_features(img)
    f = (np.float32(-1) + np.float32(2) * (f - lo) / (hi - lo)).astype(np.float32)
    d2 = np.sum((model["support_vectors"].astype(np.float64) - f.astype(np.float64)) ** 2,
                axis=1)
    score = float(np.dot(model["alpha"], np.exp(-float(model["gamma"]) * d2)) - model["rho"])
    return min(max(score, 0.0), 100.0)
