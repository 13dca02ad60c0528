"""Low light: the output is the input raised to the drawn gamma."""

from __future__ import annotations

import numpy as np
import pytest

from aioir.degradations import apply


@pytest.mark.parametrize("dist,lo,hi", [("in", 1.0, 3.0), ("out", 3.0, 4.0)])
def test_gamma_curve(photo, dist, lo, hi):
    out, p = apply("dark", photo, np.random.default_rng(5), dist=dist)
    assert lo <= p["gamma"] <= hi
    np.testing.assert_allclose(out, photo.astype(np.float64) ** p["gamma"], atol=1e-6)
    assert out.mean() < photo.mean()


def test_fixed_gamma():
    img = np.full((2, 3, 3), 0.5, np.float32)
    out, p = apply("dark", img, np.random.default_rng(0), gamma=3)
    assert p == {"gamma": 3}
    np.testing.assert_allclose(out, 0.125, atol=1e-7)
