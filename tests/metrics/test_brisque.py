"""BRISQUE against OpenCV's own implementation: ``cv2.quality.QualityBRISQUE_compute(img,
"brisque_model_live.yml", "brisque_range_live.yml")`` of opencv-contrib-python-headless 5.1.0,
run out of tree on the same scikit-image photographs (BGR uint8 as OpenCV takes them; camera
grey). Values printed by that run, transcribed here. Agreement is to 0.05 on the 0-100 scale,
not 1e-3: OpenCV's float32 filters sum in another order, and the shape search on a 0.001 grid
turns such a difference into a grid step now and then (see aioir.metrics.brisque)."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from aioir.metrics.brisque import _shifted, brisque, gray_01

OPENCV = {
    "astronaut": 0.4943566620349884,
    "coffee": 3.6064369678497314,
    "chelsea": 2.065948247909546,
    "rocket": 9.211797714233398,
    "camera": 0.0,  # clamped at 0 by OpenCV
}


@pytest.mark.parametrize("name", sorted(OPENCV))
def test_brisque_matches_opencv(name):
    assert brisque(getattr(skimage.data, name)()) == pytest.approx(OPENCV[name], abs=0.05)


def test_noise_raises_the_score_as_opencv_says():
    rng = np.random.default_rng(0)
    clean = skimage.data.astronaut()
    noisy = np.clip(clean.astype(np.float64) + rng.normal(0, 20, clean.shape), 0, 255)
    assert brisque(noisy.astype(np.uint8)) == pytest.approx(43.15249252319336, abs=0.05)


def test_grey_is_opencvs_fixed_point_bgr2gray():
    # (4899 R + 9617 G + 1868 B + 2^13) >> 14, by hand for one pixel: 100, 150, 200
    px = np.array([[[100, 150, 200]]], np.uint8)
    assert gray_01(px)[0, 0] * 255 == pytest.approx((4899 * 100 + 9617 * 150 + 1868 * 200
                                                     + 8192) // 16384, abs=1e-4)


def test_neighbour_products_use_zero_outside():
    x = np.arange(1.0, 10.0).reshape(3, 3)
    assert _shifted(x, -1, 1).tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]


def test_flat_image_is_a_clear_error():
    with pytest.raises(ValueError, match="flat image"):
        brisque(np.full((32, 32, 3), 128, np.uint8))


def test_too_small_image_is_refused():
    with pytest.raises(ValueError, match="at least 16 x 16"):
        brisque(np.zeros((10, 40), np.uint8))
