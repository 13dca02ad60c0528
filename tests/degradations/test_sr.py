"""SR degradation: size round trip, constants preserved, equal to torch bicubic down + up."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aioir.degradations import apply


@pytest.mark.parametrize("hw", [(5, 7), (13, 9), (64, 48), (3, 2)])
def test_size_round_trip(hw):
    img = np.random.default_rng(0).random((*hw, 3)).astype(np.float32)
    out, params = apply("sr", img, np.random.default_rng(0))
    assert out.shape == img.shape and params == {"scale": 4, "antialias": False}


def test_constant_stays_constant():
    img = np.full((22, 17, 3), 0.37, np.float32)
    out, _ = apply("sr", img, np.random.default_rng(0))
    np.testing.assert_allclose(out, 0.37, atol=1e-6)


def test_equals_torch_down_then_up(photo):
    t = torch.from_numpy(photo).permute(2, 0, 1)[None]
    small = F.interpolate(t, scale_factor=0.25, mode="bicubic", align_corners=False)
    up = F.interpolate(small, size=photo.shape[:2], mode="bicubic", align_corners=False)
    ref = up.clamp(0, 1)[0].permute(1, 2, 0).numpy()
    out, _ = apply("sr", photo, np.random.default_rng(0))
    np.testing.assert_allclose(out, ref, atol=3e-6)


def test_loses_detail_more_at_larger_scale(photo):
    err = [float(np.abs(apply("sr", photo, np.random.default_rng(0), scale=s)[0] - photo).mean()) for s in (2, 4, 8)]
    assert err[0] < err[1] < err[2]
