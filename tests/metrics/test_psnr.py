"""PSNR against the formula written out by hand in numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aioir.metrics import psnr, psnr_batch


def _pair(seed: int = 0, shape: tuple[int, int, int] = (20, 24, 3)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gt = rng.random(shape)
    pred = np.clip(gt + rng.normal(0, 0.05, shape), -0.1, 1.1)  # some values outside [0, 1]
    return pred, gt


def _u8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0, 1) * 255.0)


def _y(rgb255: np.ndarray) -> np.ndarray:
    r, g, b = rgb255[..., 0] / 255, rgb255[..., 1] / 255, rgb255[..., 2] / 255
    return 16 + 65.481 * r + 128.553 * g + 24.966 * b


def _hand_psnr(x: np.ndarray, y: np.ndarray, peak: float) -> float:
    return 10 * math.log10(peak**2 / np.mean((x - y) ** 2))


def test_rgb_uint8_matches_formula() -> None:
    pred, gt = _pair()
    assert psnr(pred, gt) == pytest.approx(_hand_psnr(_u8(pred), _u8(gt), 255), abs=1e-10)


def test_y_channel_matches_bt601_formula() -> None:
    pred, gt = _pair(1)
    expected = _hand_psnr(_y(_u8(pred)), _y(_u8(gt)), 255)
    assert psnr(pred, gt, y_channel=True) == pytest.approx(expected, abs=1e-10)
    # BT.601 luma of white is 235 and of black 16 (MATLAB rgb2ycbcr), so white vs black:
    assert psnr(np.ones((4, 4, 3)), np.zeros((4, 4, 3)), y_channel=True) == pytest.approx(
        20 * math.log10(255 / (235 - 16))
    )


def test_float_scale_without_rounding() -> None:
    pred, gt = _pair(2)
    expected = _hand_psnr(np.clip(pred, 0, 1), gt, 1.0)
    assert psnr(pred, gt, round_uint8=False) == pytest.approx(expected, abs=1e-10)
    ey = _hand_psnr(_y(np.clip(pred, 0, 1) * 255) / 255, _y(gt * 255) / 255, 1.0)
    assert psnr(pred, gt, round_uint8=False, y_channel=True) == pytest.approx(ey, abs=1e-10)


def test_crop_border_ignores_the_border() -> None:
    pred, gt = _pair(3)
    c = 4
    expected = _hand_psnr(_u8(pred)[c:-c, c:-c], _u8(gt)[c:-c, c:-c], 255)
    assert psnr(pred, gt, crop_border=c) == pytest.approx(expected, abs=1e-10)
    # errors confined to the border vanish after cropping
    spoiled = gt.copy()
    spoiled[:c] = 1 - spoiled[:c]
    spoiled[:, -c:] = 0
    assert psnr(spoiled, gt, crop_border=c) == math.inf
    assert psnr(spoiled, gt) < 20


def test_identical_is_inf_and_known_value() -> None:
    a = np.full((5, 5, 3), 0.5)
    assert psnr(a, a) == math.inf
    # 0.5 -> 128 (round half to even of 127.5), 0.6 -> 153: 20 log10(255 / 25)
    assert psnr(a, np.full((5, 5, 3), 0.6)) == pytest.approx(20 * math.log10(255 / 25))


def test_torch_and_numpy_agree_and_batch_matches_single() -> None:
    pred, gt = _pair(4)
    tp = torch.from_numpy(pred).permute(2, 0, 1).float()
    tg = torch.from_numpy(gt).permute(2, 0, 1).float()
    # float32 storage: the same after uint8 rounding unless a value sits on a .5 boundary
    expected = psnr(tp.double().permute(1, 2, 0).numpy(), tg.double().permute(1, 2, 0).numpy())
    assert psnr(tp, tg) == pytest.approx(expected, abs=1e-12)
    assert psnr(tp[None], tg[None]) == pytest.approx(expected, abs=1e-12)
    batch = psnr_batch(torch.stack([tp, tg]), torch.stack([tg, tg]), crop_border=2)
    assert batch.shape == (2,) and batch[1].item() == math.inf
    assert batch[0].item() == pytest.approx(psnr(tp, tg, crop_border=2), abs=1e-12)
