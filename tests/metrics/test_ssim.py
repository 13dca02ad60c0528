"""SSIM against scikit-image's independent implementation.

With ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False`` scikit-image filters with
an 11-tap Gaussian (radius ``int(3.5 * 1.5 + 0.5) = 5``, normalised like ours), pads the border
by reflection, then averages the SSIM map only over the pixels at least ``(11 - 1) / 2 = 5``
from every edge. Those are exactly the pixels whose 11x11 window lies inside the image, so the
padding never enters the mean: it is the 'valid' region we compute without padding. Constants
(K1 0.01, K2 0.03, C = (K R)^2) and the channel mean are the same, so the two agree to
rounding error. With its default arguments (7x7 uniform window, sample covariance) it is the
SSIM that AirNet/PromptIR report, our ``window="uniform"``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity

from aioir.metrics import gaussian_window, ssim, ssim_batch


def _photo_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    gt = data.astronaut()[100:164, 180:236].astype(np.float64) / 255.0  # 64x56 RGB crop
    rng = np.random.default_rng(seed)
    pred = np.clip(gt + rng.normal(0, 0.08, gt.shape), 0, 1)
    return pred, gt


def _u8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0, 1) * 255.0)


def _sk_gauss(x: np.ndarray, y: np.ndarray, data_range: float, channel_axis: int | None = 2) -> float:
    return structural_similarity(
        x, y, channel_axis=channel_axis, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=data_range,
    )


def test_rgb_uint8_matches_skimage() -> None:
    pred, gt = _photo_pair()
    expected = _sk_gauss(_u8(pred), _u8(gt), 255)
    assert 0.3 < expected < 0.95  # a real, non-trivial comparison
    assert ssim(pred, gt) == pytest.approx(expected, abs=1e-6)


def test_crop_and_y_channel_match_skimage() -> None:
    pred, gt = _photo_pair(1)
    c = 4
    assert ssim(pred, gt, crop_border=c) == pytest.approx(
        _sk_gauss(_u8(pred)[c:-c, c:-c], _u8(gt)[c:-c, c:-c], 255), abs=1e-6
    )

    def y(rgb255: np.ndarray) -> np.ndarray:
        return 16 + (65.481 * rgb255[..., 0] + 128.553 * rgb255[..., 1] + 24.966 * rgb255[..., 2]) / 255

    assert ssim(pred, gt, y_channel=True) == pytest.approx(
        _sk_gauss(y(_u8(pred)), y(_u8(gt)), 255, channel_axis=None), abs=1e-6
    )


def test_float_scale_matches_skimage() -> None:
    pred, gt = _photo_pair(2)
    assert ssim(pred, gt, round_uint8=False) == pytest.approx(_sk_gauss(pred, gt, 1.0), abs=1e-6)


def test_uniform_window_matches_skimage_defaults() -> None:
    pred, gt = _photo_pair(3)
    expected = structural_similarity(gt, pred, channel_axis=2, data_range=1)  # win 7, sample cov
    assert ssim(pred, gt, round_uint8=False, window="uniform") == pytest.approx(expected, abs=1e-6)
    assert abs(expected - ssim(pred, gt, round_uint8=False)) > 1e-3  # the choice matters


def test_window_is_the_normalised_gaussian() -> None:
    i = np.arange(11) - 5
    g = np.exp(-(i**2) / (2 * 1.5**2))
    np.testing.assert_allclose(gaussian_window().numpy(), g / g.sum(), rtol=0, atol=1e-15)


def test_torch_numpy_batch_agree() -> None:
    pred, gt = _photo_pair(4)
    tp, tg = (torch.from_numpy(v).permute(2, 0, 1) for v in (pred, gt))
    value = ssim(pred, gt, crop_border=2)
    assert ssim(tp, tg, crop_border=2) == pytest.approx(value, abs=1e-12)
    batch = ssim_batch(torch.stack([tp, tg]), torch.stack([tg, tg]), crop_border=2)
    assert batch[0].item() == pytest.approx(value, abs=1e-12) and batch[1].item() == pytest.approx(1.0)


def test_too_small_after_crop() -> None:
    a = np.zeros((16, 16, 3))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(a, a, crop_border=3)
    with pytest.raises(ValueError, match="window"):
        ssim(a, a, window="box")  # type: ignore[arg-type]
