"""Synthetic rain streaks (MiOIR "rain"), following the recipe of MiOIR's data scripts.

1. Seeds: draw ``u ~ U(0, 256)`` per pixel and keep it where ``u >= 256 - value / 100``, so a
   fraction ``value / 25600`` of the pixels seeds a drop (``value`` 50-99: 0.2-0.4 %).
2. Seeds are sharpened by the 3x3 kernel ``[[0, .1, 0], [.1, 8, .1], [0, .1, 0]]``.
3. Streaks: the seed map is filtered with a motion kernel, a line segment ``length`` px long,
   tilted ``angle`` degrees from the vertical, counter-clockwise on screen as MiOIR's
   ``cv2.getRotationMatrix2D(c, angle - 45, .)`` turns its diagonal kernel (positive: the top
   leans left, the streak runs down to the right; MiOIR draws ``np.random.randint(-45, 45)``,
   i.e. -45 to 44), blurred by a Gaussian whose std is OpenCV's default for a
   ``width`` x ``width`` Gaussian blur, ``0.3 * ((width - 1) / 2 - 1) + 0.8``. Borders are
   reflected (OpenCV's default).
4. The streak map is min-max normalised to [0, 1] over the whole image, floored to 8-bit steps
   (MiOIR casts it to uint8), and added to all three channels: ``y = clip(x + r, 0, 1)``.
   Because of this normalisation a crop of a rained image is not a rained crop: training
   samples degrade the whole clean image first (:mod:`aioir.data.synthetic`).

Differences from the authors' kernel (a rotated, rescaled diagonal matrix blurred by OpenCV):
our streak is an exact ``length`` px segment blurred by the Gaussian, theirs is
``~length * 1.41 * (1 - length / 100)`` px long, cropped to its ``length`` x ``length`` box;
and the image is not cropped to a multiple of 4.

>>> import numpy as np
>>> img = np.zeros((32, 32, 3), np.float32)
>>> y = rain(img, np.random.default_rng(0), value=5000, length=20, angle=0, width=3)
>>> bool(y.max() == 1.0 and np.all(y >= img))
True
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

_SEED_KERNEL = np.array([[0.0, 0.1, 0.0], [0.1, 8.0, 0.1], [0.0, 0.1, 0.0]])


def width_sigma(width: int) -> float:
    """OpenCV's Gaussian std for a ``width`` x ``width`` kernel given sigma 0."""
    return 0.3 * ((width - 1) * 0.5 - 1) + 0.8


def streak_kernel(length: float, angle: float, width: int) -> np.ndarray:
    """A ``length`` px segment at ``angle`` deg from vertical (counter-clockwise: positive runs
    down to the right), blurred by a Gaussian of std ``s``.

    The continuous segment convolved with an isotropic Gaussian (``s = width_sigma(width)``),
    sampled on the pixel grid: with ``t`` the coordinate along the streak and ``p`` across it,
    ``k ∝ exp(-p² / (2 s²)) * (Phi((L/2 - t) / s) - Phi((-L/2 - t) / s))``; normalised to sum 1.
    """
    from scipy.special import erf

    s = width_sigma(width)
    half = math.ceil(length / 2 + 3 * s)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    theta = math.radians(angle)
    dy, dx = math.cos(theta), math.sin(theta)  # walking down the streak moves right for angle > 0
    along = yy * dy + xx * dx
    across = -yy * dx + xx * dy
    root2s = math.sqrt(2.0) * s
    profile = erf((length / 2 - along) / root2s) - erf((-length / 2 - along) / root2s)
    k = np.exp(-(across * across) / (2 * s * s)) * profile
    return k / k.sum()


def _convolve_valid(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``'valid'`` 2-D convolution of ``a`` by ``k`` through a float32 FFT (``scipy.fft``)."""
    from scipy import fft

    full = (a.shape[0] + k.shape[0] - 1, a.shape[1] + k.shape[1] - 1)
    size = (fft.next_fast_len(full[0], real=True), fft.next_fast_len(full[1], real=True))
    spec = fft.rfft2(a.astype(np.float32), size) * fft.rfft2(k.astype(np.float32), size)
    conv = fft.irfft2(spec, size)
    return conv[k.shape[0] - 1 : a.shape[0], k.shape[1] - 1 : a.shape[1]]


def streak_map(shape: tuple[int, int], rng: np.random.Generator, *, value: float, length: float,
               angle: float, width: int) -> np.ndarray | None:
    """The (H, W) float32 streak map before normalisation (steps 1-3); ``None`` without seeds.
    Draws the same randomness as :func:`rain_layer` (one uniform per pixel)."""
    u = rng.uniform(0.0, 256.0, size=shape)
    hit = u >= 256.0 - value / 100.0
    if not hit.any():
        return None
    seeds = np.zeros(shape)
    seeds[hit] = u[hit] / 256.0  # the same values as np.where(hit, u / 256, 0), one division per seed
    seeds = ndimage.correlate(seeds, _SEED_KERNEL, mode="mirror")
    k = streak_kernel(length, angle, width)
    pad = k.shape[0] // 2
    return _convolve_valid(np.pad(seeds, pad, mode="reflect"), k)


def _normalise(streaks: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (np.floor((streaks - lo) / (hi - lo) * 255.0) / 255.0).astype(np.float32)


def rain_layer(shape: tuple[int, int], rng: np.random.Generator, *, value: float, length: float,
               angle: float, width: int) -> np.ndarray:
    """The (H, W) streak layer in [0, 1] (8-bit steps) that :func:`rain` adds to the image."""
    streaks = streak_map(shape, rng, value=value, length=length, angle=angle, width=width)
    if streaks is None:
        return np.zeros(shape, np.float32)
    lo, hi = float(streaks.min()), float(streaks.max())
    if hi - lo <= 1e-12:
        return np.zeros(shape, np.float32)
    return _normalise(streaks, lo, hi)


def rain(
    img: np.ndarray, rng: np.random.Generator, *, value: float, length: float, angle: float, width: int
) -> np.ndarray:
    """Add rain streaks (seed density ``value / 25600``) to every channel and clip to [0, 1]."""
    layer = rain_layer(img.shape[:2], rng, value=value, length=length, angle=angle, width=width)
    out = img + layer[:, :, None]
    return np.clip(out, 0.0, 1.0, out=out)


def rain_window(
    img: np.ndarray, rng: np.random.Generator, window: tuple[int, int, int, int], *,
    value: float, length: float, angle: float, width: int
) -> np.ndarray:
    """``rain(img, rng, ...)[y0:y1, x0:x1]`` for ``window = (y0, x0, y1, x1)``, bit for bit,
    with the same draws from ``rng``: the streak map and its min-max normaliser are the whole
    image's (they must be), the normalisation, the sum and the clip run on the window only
    (a 128 px training crop of a 2040 x 1356 photograph: 1/170 of those pixels).

    >>> img = np.random.default_rng(1).random((40, 50, 3)).astype(np.float32)
    >>> p = dict(value=5000, length=9, angle=10, width=3)
    >>> whole = rain(img, np.random.default_rng(0), **p)
    >>> part = rain_window(img, np.random.default_rng(0), (5, 7, 21, 30), **p)
    >>> bool(np.array_equal(part, whole[5:21, 7:30]))
    True
    """
    y0, x0, y1, x1 = window
    out = np.array(img[y0:y1, x0:x1], dtype=np.float32)
    streaks = streak_map(img.shape[:2], rng, value=value, length=length, angle=angle, width=width)
    if streaks is None:
        return np.clip(out, 0.0, 1.0, out=out)
    lo, hi = float(streaks.min()), float(streaks.max())
    if hi - lo > 1e-12:
        out += _normalise(streaks[y0:y1, x0:x1], lo, hi)[:, :, None]
    return np.clip(out, 0.0, 1.0, out=out)
