"""JPEG: equal to Pillow's own encode/decode at the drawn quality; lower quality, larger error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aioir.degradations import apply


def _pillow_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(np.clip(np.round(img * 255), 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float32) / 255


@pytest.mark.parametrize("dist", ["in", "out"])
def test_equals_pillow_at_drawn_quality(photo, dist):
    out, p = apply("jpeg", photo, np.random.default_rng(3), dist=dist)
    np.testing.assert_array_equal(out, _pillow_roundtrip(photo, p["quality"]))


def test_lower_quality_larger_error(photo):
    errs = [float(np.square(apply("jpeg", photo, np.random.default_rng(0), quality=q)[0] - photo).mean())
            for q in (90, 70, 50, 30, 10)]
    assert errs == sorted(errs) and errs[-1] > 2 * errs[0]


def test_odd_and_tiny_sizes():
    for hw in [(5, 7), (1, 1), (9, 17)]:
        img = np.random.default_rng(0).random((*hw, 3)).astype(np.float32)
        out, _ = apply("jpeg", img, np.random.default_rng(0))
        assert out.shape == img.shape
