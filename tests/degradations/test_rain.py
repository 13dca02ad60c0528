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
        return float(np.mean([apply("rain", black, np.random.default_rng(s), value=value, length=30, angle=10, width=5)[0].mean()
                              for s in range(4)]))

    assert energy(50) < energy(100) < energy(150)


@pytest.mark.parametrize("angle", [-40.0, 0.0, 25.0])
def test_streak_kernel_geometry(angle):
    # A segment of length L with a Gaussian cross-section s has variance L²/12 + s² along its
    # axis and s² across it; the axis makes `angle` with the vertical, top to the right.
    length, width = 30, 7
    s = 0.3 * ((width - 1) * 0.5 - 1) + 0.8
    k = streak_kernel(length, angle, width)
    r = k.shape[0] // 2
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    cov = np.array([[np.sum(k * yy * yy), np.sum(k * yy * xx)], [np.sum(k * xx * yy), np.sum(k * xx * xx)]])
    evals, evecs = np.linalg.eigh(cov)
    assert abs(evals[1] / (length**2 / 12 + s * s) - 1) < 0.05
    assert abs(evals[0] / (s * s) - 1) < 0.1
    vy, vx = evecs[:, 1] * np.sign(evecs[0, 1] or 1)  # major axis, pointing downwards
    measured = math.degrees(math.atan2(-vx, vy))  # down-left for positive angles
    assert abs(measured - angle) < 0.5


def test_tiny_image_without_seeds_is_unchanged():
    img = np.full((5, 7, 3), 0.3, np.float32)
    out, _ = apply("rain", img, np.random.default_rng(0), value=0)
    np.testing.assert_array_equal(out, img)
