"""Gaussian blur: a hand-written normalised 2-D kernel with reflect padding, and constants."""

from __future__ import annotations

import numpy as np
import pytest

from aioir.degradations import apply


def _hand_blur(img: np.ndarray, sigma: float, size: int) -> np.ndarray:
    r = size // 2
    kernel = np.array([[np.exp(-(u * u + v * v) / (2 * sigma**2)) for v in range(-r, r + 1)] for u in range(-r, r + 1)])
    kernel /= kernel.sum()
    pad = np.pad(img.astype(np.float64), ((r, r), (r, r), (0, 0)), mode="reflect")  # torch 'reflect'
    h, w = img.shape[:2]
    out = np.zeros(img.shape, np.float64)
    for du in range(size):
        for dv in range(size):
            out += kernel[du, dv] * pad[du : du + h, dv : dv + w]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_hand_written_kernel(photo, seed):
    out, p = apply("blur", photo, np.random.default_rng(seed))
    np.testing.assert_allclose(out, _hand_blur(photo, p["sigma"], p["kernel_size"]), atol=2e-6)


@pytest.mark.parametrize("hw", [(30, 25), (5, 7), (1, 1)])
def test_constant_is_unchanged(hw):
    img = np.full((*hw, 3), 0.6, np.float32)
    out, _ = apply("blur", img, np.random.default_rng(0), sigma=3.0, kernel_size=21)
    np.testing.assert_allclose(out, 0.6, atol=1e-6)


def test_preserves_mean_and_smooths(photo):
    out, _ = apply("blur", photo, np.random.default_rng(0), sigma=2.0, kernel_size=13)
    # The horizontal gradient energy drops; the mean stays (a normalised kernel).
    assert np.abs(np.diff(out, axis=1)).mean() < 0.5 * np.abs(np.diff(photo, axis=1)).mean()
    assert abs(float(out.mean()) - float(photo.mean())) < 0.01
