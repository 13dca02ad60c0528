"""NIQE, the Natural Image Quality Evaluator (Mittal et al., "Making a 'Completely Blind' Image
Quality Analyzer", IEEE SPL 2013): a no-reference score, lower is better.

Computed as BasicSR computes it (``basicsr/metrics/niqe.py``, which matches the authors' MATLAB
release: 5.7296 on BasicSR's ``baboon.png``), with the same parameters: the pristine model
(``mu_pris_param``, ``cov_pris_param``) and the 7 x 7 Gaussian window of BasicSR's
``niqe_pris_params.npz``, shipped here unchanged (``aioir/metrics/data``, provenance and licence
in its ``PROVENANCE.md``). Steps: the image's BT.601 luma on [0, 255] (MATLAB ``rgb2ycbcr``),
rounded; cropped to whole 96 x 96 blocks; at two scales (the image, then a MATLAB-``imresize``
bicubic x0.5 with anti-aliasing), its mean-subtracted contrast-normalised coefficients, and per
block the 18 features of an asymmetric generalised Gaussian fit (the coefficients and their
products with the 4 neighbours); a multivariate Gaussian fitted to the blocks' 36 features; the
distance of that Gaussian to the pristine one.

The values agree with BasicSR's own code to 1e-3 (``tests/metrics/test_niqe.py`` holds values
it printed on scikit-image photographs).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> smooth = np.cumsum(np.cumsum(rng.normal(size=(192, 192)), 0), 1)
>>> img = (smooth - smooth.min()) / np.ptp(smooth)
>>> noisy = np.clip(img + rng.normal(0, 0.1, img.shape), 0, 1)
>>> bool(niqe(noisy) > niqe(img))  # noise makes an image less natural
True
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["niqe", "NIQE_BLOCK", "luma_255", "matlab_imresize_half"]

#: block side of the features (the authors' recommended size, BasicSR's default)
NIQE_BLOCK = 96
#: the AGGD shape parameters searched (as BasicSR and the MATLAB release: 0.2 to 10 by 0.001)
_SHAPES = np.arange(0.2, 10.001, 0.001)


@lru_cache(maxsize=1)
def _pristine() -> dict[str, np.ndarray]:
    from importlib.resources import files

    with (files("aioir.metrics") / "data" / "niqe_pris_params.npz").open("rb") as f:
        data = np.load(f, allow_pickle=False)
        return {k: np.array(data[k]) for k in ("mu_pris_param", "cov_pris_param",
                                               "gaussian_window")}


def luma_255(img: Any) -> np.ndarray:
    """BT.601 luma on [0, 255] (float32, rounded) of an RGB image (uint8, or float in [0, 1]
    rounded to uint8 first) or of a grey image (H x W); as BasicSR's ``to_y_channel`` then
    ``round()``.

    >>> luma_255(np.array([[[255, 255, 255], [0, 0, 0]]], np.uint8)).tolist()
    [[235.0, 16.0]]
    """
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.round(np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        return np.round(arr.astype(np.float32))
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"NIQE needs an H x W x 3 RGB or an H x W grey image, got shape "
                         f"{arr.shape}")
    x = arr.astype(np.float32) / 255.0
    y = (np.dot(x, [65.481, 128.553, 24.966]) + 16.0) / 255.0  # float64, as BasicSR
    return np.round(y.astype(np.float32) * 255.0)


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic kernel with a = -0.5 (MATLAB's ``imresize``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _half_matrix(n: int) -> np.ndarray:
    """``(ceil(n / 2), n)`` weights of MATLAB's bicubic ``imresize`` by 0.5 with anti-aliasing
    along one axis: the kernel widened 2x, rows normalised, taps outside the signal mirrored
    (symmetric padding, the edge sample repeated)."""
    scale, width = 0.5, 4.0 / 0.5
    n_out = math.ceil(n * scale)
    u = np.arange(1, n_out + 1, dtype=np.float64) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = left[:, None] + np.arange(math.ceil(width) + 2)[None, :]  # 1-based input indices
    weights = scale * _cubic((u[:, None] - taps) * scale)
    weights /= weights.sum(axis=1, keepdims=True)
    j = taps.astype(np.int64) - 1  # 0-based, may fall outside [0, n)
    j = np.where(j < 0, -j - 1, j)
    j = np.where(j >= n, 2 * n - 1 - j, j)
    if j.min() < 0 or j.max() >= n:
        raise ValueError(f"image side {n} px is too small to resize")
    mat = np.zeros((n_out, n))
    np.add.at(mat, (np.repeat(np.arange(n_out), j.shape[1]), j.ravel()), weights.ravel())
    return mat


def matlab_imresize_half(img: np.ndarray) -> np.ndarray:
    """A grey image resized by 0.5 as MATLAB's ``imresize(img, 0.5)`` (bicubic, anti-aliased);
    float32 out.

    >>> matlab_imresize_half(np.full((6, 5), 3.0, np.float32)).round(6).tolist()
    [[3.0, 3.0, 3.0], [3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]
    """
    h, w = img.shape
    out = _half_matrix(h) @ img.astype(np.float64) @ _half_matrix(w).T
    return out.astype(np.float32)


def _aggd(x: np.ndarray) -> tuple[float, float, float]:
    """Shape and left/right scales of an asymmetric generalised Gaussian fitted by moment
    matching (Mittal et al., BRISQUE eq. 7 and its estimator)."""
    from scipy.special import gamma

    x = x.ravel()
    left = np.sqrt(np.mean(x[x < 0] ** 2))
    right = np.sqrt(np.mean(x[x > 0] ** 2))
    g = left / right
    r = np.mean(np.abs(x)) ** 2 / np.mean(x ** 2)
    r_norm = r * (g ** 3 + 1) * (g + 1) / (g ** 2 + 1) ** 2
    inv = 1.0 / _SHAPES
    curve = gamma(2 * inv) ** 2 / (gamma(inv) * gamma(3 * inv))
    alpha = _SHAPES[np.argmin((curve - r_norm) ** 2)]
    ratio = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return float(alpha), float(left * ratio), float(right * ratio)


def _block_features(block: np.ndarray) -> list[float]:
    """The 18 features of one block of normalised coefficients: the AGGD fit of the
    coefficients (shape, mean scale), then for the products with the right, lower, lower-right
    and lower-left neighbours (cyclic) shape, mean, left and right scales."""
    from scipy.special import gamma

    alpha, bl, br = _aggd(block)
    features = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, bl, br = _aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (br - bl) * gamma(2 / alpha) / gamma(1 / alpha)
        features += [alpha, mean, bl, br]
    return features


def niqe(img: Any, *, crop_border: int = 0, block: int = NIQE_BLOCK) -> float:
    """NIQE of an image (lower: more natural). ``img``: RGB H x W x 3 (uint8, or float in
    [0, 1], which is rounded to uint8 first) or grey H x W; ``crop_border`` pixels are cut from
    each side first. The image (after the crop) must hold at least one ``block`` x ``block``
    block; features come from whole blocks only (BasicSR's convention, no overlap)."""
    import warnings

    from scipy.ndimage import convolve

    params = _pristine()
    y = luma_255(img)
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    h, w = y.shape
    nh, nw = h // block, w // block
    if nh < 1 or nw < 1:
        raise ValueError(f"NIQE needs an image of at least {block} x {block} px (after a "
                         f"{crop_border} px border crop); this one is {w} x {h}")
    y = y[: nh * block, : nw * block]
    window = params["gaussian_window"]
    scales = []
    with warnings.catch_warnings():  # flat blocks: mean of an empty side is nan, as BasicSR
        warnings.simplefilter("ignore", RuntimeWarning)
        for scale in (1, 2):
            mu = convolve(y, window, mode="nearest")
            sigma = np.sqrt(np.abs(convolve(np.square(y), window, mode="nearest")
                                   - np.square(mu)))
            coeffs = (y - mu) / (sigma + 1)
            size = block // scale
            scales.append(np.array([
                _block_features(coeffs[i * size:(i + 1) * size, j * size:(j + 1) * size])
                for j in range(nw) for i in range(nh)]))
            if scale == 1:
                y = matlab_imresize_half(y / 255.0) * 255.0
        features = np.concatenate(scales, axis=1)
        mu_dist = np.nanmean(features, axis=0)
    complete = features[~np.isnan(features).any(axis=1)]
    cov_dist = np.cov(complete, rowvar=False)
    diff = params["mu_pris_param"] - mu_dist
    inv = np.linalg.pinv((params["cov_pris_param"] + cov_dist) / 2)
    return float(np.sqrt(np.squeeze(diff @ inv @ diff.T)))
