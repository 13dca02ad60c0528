"""Rain: only adds grey brightness; more streak energy for a larger value; kernel geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aioir.degradations import apply
from aioir.degradations.rain import streak_kernel


def test_only_adds_equal_brightness(photo):
    photo = photo * 0.5  # darker, so that most streak pixels are not clipped
    out, p = apply("rain", photo, np.random.default_rng(0), value=1500)
    assert np.all(out >= photo - 1e-7)
    added = out - photo
    unclipped = np.all(out < 1, axis=2)
    assert unclipped.mean() > 0.5 and added.max() > 0.5
    # The same amount is added to R, G and B wherever nothing was clipped.
    np.testing.assert_allclose(added[unclipped][:, 0], added[unclipped][:, 1], atol=1e-6)
    np.testing.assert_allclose(added[unclipped][:, 0], added[unclipped][:, 2], atol=1e-6)
    assert set(p) == {"value", "length", "angle", "width"}


def test_more_value_more_streak_energy():
    black = np.zeros((96, 96, 3), np.float32)

    def energy(value: int) -> float:
        return float(np.mean([apply("rain", black, np.random.default_rng(s), value=value,
                                    length=30, angle=10, width=5)[0].mean() for s in range(4)]))

    assert energy(50) < energy(100) < energy(150)


def _opencv_streak_direction(angle: float) -> np.ndarray:
    """Direction (x right, y down) of MiOIR's streak: its kernel is the diagonal of ones,
    direction (1, 1), warped by cv2.getRotationMatrix2D(c, angle - 45, scale), whose linear
    part is [[a, b], [-b, a]] with a = scale cos t, b = scale sin t (OpenCV documentation);
    warpAffine maps a source point p to M p."""
    t = math.radians(angle - 45)
    a, b = math.cos(t), math.sin(t)
    d = np.array([[a, b], [-b, a]]) @ np.array([1.0, 1.0])
    return d / np.linalg.norm(d)


@pytest.mark.parametrize("angle", [-40.0, 0.0, 25.0, 44.0])
def test_streak_kernel_geometry(angle):
    # A segment of length L with a Gaussian cross-section s has variance L²/12 + s² along its
    # axis and s² across it; the axis is the one OpenCV gives MiOIR's kernel for `angle`.
    length, width = 30, 7
    s = 0.3 * ((width - 1) * 0.5 - 1) + 0.8
    k = streak_kernel(length, angle, width)
    r = k.shape[0] // 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    cov = np.array([[np.sum(k * yy * yy), np.sum(k * yy * xx)], [np.sum(k * xx * yy), np.sum(k * xx * xx)]])
    evals, evecs = np.linalg.eigh(cov)
    assert abs(evals[1] / (length**2 / 12 + s * s) - 1) < 0.05
    assert abs(evals[0] / (s * s) - 1) < 0.1
    vy, vx = evecs[:, 1]  # major axis (rows = y down, columns = x right)
    expected = _opencv_streak_direction(angle)
    assert abs(abs(vx * expected[0] + vy * expected[1]) - 1) < 1e-4  # parallel
    if angle > 0:  # MiOIR's comment: counter-clockwise positive, the streak runs down-right
        assert expected[0] > 0 and expected[1] > 0


def test_angle_range_is_mioirs_randint():
    """MiOIR draws np.random.randint(-45, 45): -45 to 44, never 45."""
    from aioir.degradations import TASKS

    rng = np.random.default_rng(0)
    draws = {TASKS["rain"].param("angle").draw(rng, "in") for _ in range(3000)}
    assert draws == set(range(-45, 45))


def test_tiny_image_without_seeds_is_unchanged():
    img = np.full((5, 7, 3), 0.3, np.float32)
    out, _ = apply("rain", img, np.random.default_rng(0), value=0)
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("seed", range(6))
def test_rain_window_is_the_whole_images_window_bit_for_bit(seed):
    """Random parameters (both draw ranges), windows touching every border, a seedless image:
    the window path gives exactly the whole-image result's window, and leaves the generator
    where the whole-image path leaves it."""
    from aioir.degradations.rain import rain, rain_window

    r = np.random.default_rng(100 + seed)
    h, w = int(r.integers(40, 90)), int(r.integers(40, 90))
    img = r.random((h, w, 3)).astype(np.float32)
    params = dict(value=int(r.choice([0, 60, 120, 2000])), length=int(r.integers(5, 40)),
                  angle=int(r.integers(-45, 45)), width=int(r.choice([3, 5, 7, 9, 11])))
    y0, x0 = int(r.integers(0, h - 8)), int(r.integers(0, w - 8))
    y1, x1 = int(r.integers(y0 + 1, h + 1)), int(r.integers(x0 + 1, w + 1))
    for window in [(y0, x0, y1, x1), (0, 0, h, w), (0, w - 5, 7, w), (h - 3, 0, h, 4)]:
        a, b = np.random.default_rng(seed), np.random.default_rng(seed)
        whole = rain(img, a, **params)
        part = rain_window(img, b, window, **params)
        wy0, wx0, wy1, wx1 = window
        assert part.dtype == np.float32 and np.array_equal(part, whole[wy0:wy1, wx0:wx1])
        assert a.random() == b.random()  # the same draws consumed
