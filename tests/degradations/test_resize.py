"""Bicubic resize against PyTorch's F.interpolate, the resize MiOIR's scripts ran."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aioir.degradations.resize import bicubic_matrix, cubic, resize_bicubic


def _torch(img: np.ndarray, **kw) -> np.ndarray:
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    return F.interpolate(t, mode="bicubic", align_corners=False, **kw)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("hw", [(32, 24), (37, 29), (5, 7), (130, 9)])
@pytest.mark.parametrize("antialias", [False, True])
def test_quarter_downscale_matches_torch(hw, antialias):
    img = np.random.default_rng(0).random((*hw, 3)).astype(np.float32)
    ref = _torch(img, scale_factor=0.25, antialias=antialias)
    ours = resize_bicubic(img, ref.shape[:2], scale=4, antialias=antialias)
    np.testing.assert_allclose(ours, ref, atol=2e-6)


@pytest.mark.parametrize("hw", [(8, 6), (9, 1), (1, 1)])
def test_upscale_to_size_matches_torch(hw):
    img = np.random.default_rng(1).random((*hw, 3)).astype(np.float32)
    ref = _torch(img, size=(4 * hw[0] + 3, 4 * hw[1] + 1))
    np.testing.assert_allclose(resize_bicubic(img, ref.shape[:2]), ref, atol=2e-6)


def test_keys_kernel_values():
    # W(0) = 1, W(1) = W(2) = 0 and W(0.5) = (a + 2)/8 - (a + 3)/4 + 1 for a = -0.75.
    a = -0.75
    np.testing.assert_allclose(cubic(np.array([0.0, 1.0, 2.0, 0.5])), [1, 0, 0, (a + 2) / 8 - (a + 3) / 4 + 1])


@pytest.mark.parametrize("antialias", [False, True])
def test_rows_sum_to_one(antialias):
    m = bicubic_matrix(23, 5, 4, antialias=antialias)
    np.testing.assert_allclose(m.sum(axis=1), np.ones(5), atol=1e-12)
