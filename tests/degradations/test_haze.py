"""Haze: I = J T + A (1 - T) with T = exp(-beta d / max d), checked by hand; the pseudo-depth."""

from __future__ import annotations

import numpy as np
import pytest

from aioir.degradations import apply, pseudo_depth


@pytest.mark.parametrize("dist,beta_range", [("in", (0.5, 2.5)), ("out", (2.5, 3.0))])
def test_scattering_model_with_given_depth(photo, dist, beta_range):
    depth = np.random.default_rng(1).uniform(2.0, 50.0, photo.shape[:2])
    out, p = apply("haze", photo, np.random.default_rng(2), dist=dist, depth=depth)
    assert p["depth"] == "given"
    assert beta_range[0] <= p["beta"] <= beta_range[1] and 0.8 <= p["airlight"] <= 1.0
    t = np.exp(-p["beta"] * depth / depth.max())[:, :, None]
    np.testing.assert_allclose(out, photo * t + p["airlight"] * (1 - t), atol=2e-6)


def test_depth_with_channel_axis_and_fixed_params(photo):
    depth = np.linspace(0.1, 1.0, photo.shape[0] * photo.shape[1]).reshape(*photo.shape[:2], 1)
    out, p = apply("haze", photo, np.random.default_rng(0), beta=1.0, airlight=0.9, depth=depth)
    assert p == {"beta": 1.0, "airlight": 0.9, "depth": "given"}
    t = np.exp(-depth / 1.0)
    np.testing.assert_allclose(out, photo * t + 0.9 * (1 - t), atol=2e-6)


def test_pseudo_depth_is_used_and_documented(photo):
    out, p = apply("haze", photo, np.random.default_rng(0), beta=2.0, airlight=1.0, depth=None)
    assert p["depth"] == "estimated"
    d = pseudo_depth(photo).astype(np.float64)
    t = np.exp(-2.0 * d)[:, :, None]
    np.testing.assert_allclose(out, photo * t + (1 - t), atol=2e-6)
    assert out.mean() > photo.mean()  # white airlight brightens


def test_pseudo_depth_follows_colour_attenuation_prior():
    # Left half bright and grey (far by the prior), right half dark and saturated (near).
    img = np.zeros((40, 40, 3), np.float32)
    img[:, :20] = 0.9
    img[:, 20:] = (0.5, 0.05, 0.05)
    d = pseudo_depth(img)
    assert d.shape == (40, 40) and d.dtype == np.float32
    assert float(d.min()) == 0.0 and float(d.max()) == 1.0
    assert d[:, :10].mean() > 0.9 and d[:, 30:].mean() < 0.1


def test_flat_image_gets_uniform_depth():
    np.testing.assert_array_equal(pseudo_depth(np.full((6, 5, 3), 0.4, np.float32)), np.ones((6, 5)))


@pytest.mark.parametrize("bad,msg", [(np.ones((3, 3)), "shape"), (-np.ones((8, 8)), "non-negative"),
                                     (np.zeros((8, 8)), "zero everywhere")])
def test_bad_depth(bad, msg):
    with pytest.raises(ValueError, match=msg):
        apply("haze", np.zeros((8, 8, 3), np.float32), np.random.default_rng(0), depth=bad)
