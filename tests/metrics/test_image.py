"""Input validation and layout handling shared by the metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aioir.metrics import bt601_y, lpips_distance, psnr, ssim, to_bchw


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_mismatched_shapes(metric) -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metric(np.zeros((16, 16, 3)), np.zeros((16, 17, 3)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("metric", [psnr, ssim, lpips_distance])
def test_non_finite(metric, bad: float) -> None:
    a = np.zeros((16, 16, 3))
    b = a.copy()
    b[3, 4, 1] = bad
    with pytest.raises(ValueError, match="non-finite"):
        metric(a, b)


def test_bad_layouts_and_options() -> None:
    with pytest.raises(ValueError, match="channels"):
        psnr(np.zeros((8, 8, 4)), np.zeros((8, 8, 4)))
    with pytest.raises(ValueError, match="single image"):
        psnr(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="CHW or BCHW"):
        psnr(torch.zeros(8, 8), torch.zeros(8, 8))
    with pytest.raises(TypeError, match="numpy array or torch tensor"):
        psnr([[0.0]], [[0.0]])
    with pytest.raises(ValueError, match="leaves nothing"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), crop_border=4)
    with pytest.raises(ValueError, match="non-negative"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), crop_border=-1)
    with pytest.raises(ValueError, match="RGB"):
        psnr(np.zeros((8, 8)), np.zeros((8, 8)), y_channel=True)


def test_layouts() -> None:
    hwc = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    t = to_bchw(hwc)
    assert t.dtype == torch.float64 and t.shape == (1, 3, 2, 3)
    assert t[0, 1, 1, 2].item() == hwc[1, 2, 1]  # channel-last -> channel-first
    # grey images work for psnr/ssim
    g = np.linspace(0, 1, 144).reshape(12, 12)
    assert psnr(g, g) == float("inf") and ssim(g, g) == 1.0


def test_bt601_y_weights() -> None:
    rgb = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64).view(1, 3, 1, 1)
    assert bt601_y(rgb).item() == pytest.approx(16 + 65.481 * 0.2 + 128.553 * 0.5 + 24.966 * 0.9)
