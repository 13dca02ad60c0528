"""NIQE against BasicSR's own ``calculate_niqe`` (basicsr/metrics/niqe.py at XPixelGroup/BasicSR
8d56e3a), run out of tree on the same scikit-image photographs: BGR uint8 as BasicSR reads
images, ``calculate_niqe(img, 0, input_order="HWC", convert_to="y")``; the grey camera image as
H x W. Values printed by that run, transcribed here."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from aioir.metrics.niqe import luma_255, matlab_imresize_half, niqe

BASICSR = {
    "astronaut": 3.06460685312984,
    "coffee": 4.115241611108773,
    "chelsea": 2.6255364132341055,
    "camera": 3.0963768579403177,
}


@pytest.mark.parametrize("name", sorted(BASICSR))
def test_niqe_matches_basicsr(name):
    assert niqe(getattr(skimage.data, name)()) == pytest.approx(BASICSR[name], abs=1e-3)


def test_float_input_is_the_uint8_image():
    img = skimage.data.chelsea()
    assert niqe(img.astype(np.float64) / 255.0) == niqe(img)


def test_luma_is_bt601_on_16_235():
    # 16 + (65.481 R + 128.553 G + 24.966 B) / 255 per channel value, rounded (MATLAB rgb2ycbcr)
    px = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]]], np.uint8)
    assert luma_255(px).tolist() == [[81.0, 145.0, 41.0, 126.0]]


def test_imresize_half_reproduces_a_linear_ramp_inside():
    # a bicubic kernel reproduces linear signals: interior outputs sit at the centres of pixel
    # pairs, (2i + 0.5) of the 0-based input ramp
    ramp = np.tile(np.arange(40, dtype=np.float32), (8, 1))
    out = matlab_imresize_half(ramp)
    assert out.shape == (4, 20)
    np.testing.assert_allclose(out[0, 4:16], np.arange(4, 16) * 2 + 0.5, atol=1e-5)


def test_too_small_image_is_refused():
    with pytest.raises(ValueError, match="at least 96 x 96"):
        niqe(np.zeros((50, 120, 3), np.uint8))
