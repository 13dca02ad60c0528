"""Named protocol presets carry the options the papers used (FACTS.md sections 3, 4, 6, 7)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from aioir.metrics import PROTOCOLS, Protocol, get_protocol, psnr, ssim


def test_presets() -> None:
    assert get_protocol("mioir") == Protocol("mioir", crop_border=4, round_uint8=True)
    assert get_protocol("airnet") == Protocol(
        "airnet", crop_border=0, round_uint8=False, ssim_window="uniform"
    )
    assert get_protocol("daclip") == Protocol("daclip", crop_border=4, round_uint8=True, lpips=True)
    assert all(not p.y_channel for p in PROTOCOLS.values())
    custom = Protocol("y4", crop_border=4, y_channel=True)
    assert get_protocol(custom) is custom


def test_airnet_preset_reproduces_promptir_script() -> None:
    # PromptIR's val_utils: clip to [0, 1], skimage PSNR/SSIM with data_range=1, default window
    rng = np.random.default_rng(0)
    gt = rng.random((32, 32, 3))
    pred = gt + rng.normal(0, 0.1, gt.shape)
    opts = get_protocol("airnet")
    clipped = np.clip(pred, 0, 1)
    assert psnr(pred, gt, **opts.metric_options()) == pytest.approx(
        peak_signal_noise_ratio(gt, clipped, data_range=1), abs=1e-9
    )
    assert ssim(pred, gt, **opts.ssim_options()) == pytest.approx(
        structural_similarity(gt, clipped, data_range=1, channel_axis=2), abs=1e-6
    )


def test_describe_names_every_option() -> None:
    text = get_protocol("daclip").describe()
    assert text == (
        "Protocol 'daclip': PSNR/SSIM on RGB, 4-px border crop, uint8-rounded values (0-255); "
        "SSIM 11x11 Gaussian window (sigma 1.5), valid region, mean over channels; "
        "LPIPS (AlexNet) on RGB."
    )
    y = Protocol("y", y_channel=True).describe()
    assert "Y channel (BT.601" in y and "no border crop" in y and "\n" not in y


def test_unknown_protocol_and_bad_window() -> None:
    with pytest.raises(ValueError, match=r"unknown protocol 'airnte'; did you mean 'airnet'\?"):
        get_protocol("airnte")
    with pytest.raises(ValueError, match="ssim_window"):
        Protocol("x", ssim_window="box")
