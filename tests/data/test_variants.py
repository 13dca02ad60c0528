"""PhotoVariants: the photograph first, then reproducible variants whose draws are the ranges
in the module docstring, checked on the pictures (size, 8-bit grid, brightness)."""

import numpy as np
import pytest

from aioir.data.sources import EmbeddedPhotos
from aioir.data.variants import GAIN, GAMMA, SCALE, VARIANT_SEED, PhotoVariants


def test_variant_zero_is_the_photograph_and_the_others_are_reproducible():
    src = EmbeddedPhotos("test")
    a, b = PhotoVariants(src, copies=3), PhotoVariants(src, copies=3)
    assert len(a) == 4 * len(src)
    for j in range(len(a)):
        image, copy = divmod(j, 4)
        if copy == 0:
            assert a[j] is src[image] or np.array_equal(a[j], src[image])
        else:
            assert np.array_equal(a[j], b[j])             # the same draws in another instance
            assert not a[j].flags.writeable


@pytest.mark.parametrize("copy", [1, 2, 3])
def test_a_variant_is_a_resized_retoned_8_bit_photograph(copy):
    """Its size is the photograph's times the first draw (U(0.5, 1), rounded as skimage
    rounds), its values lie on the 8-bit grid, and its mean brightness stays within what the
    gain and gamma ranges allow (a bound worked out by hand from the extremes)."""
    src = EmbeddedPhotos("test")
    photo = np.asarray(src[1], np.float64)
    v = PhotoVariants(src, copies=3)[1 * 4 + copy].astype(np.float64)
    s = np.random.default_rng([VARIANT_SEED, 1, copy]).uniform(*SCALE)
    assert v.shape == (round(photo.shape[0] * s), round(photo.shape[1] * s), 3)
    assert np.allclose(v * 255, np.round(v * 255), atol=1e-4)
    lo = np.clip(photo * GAIN[0], 0, 1) ** GAMMA[1]
    hi = np.clip(photo * GAIN[1], 0, 1) ** GAMMA[0]
    assert lo.mean() - 0.01 < v.mean() < hi.mean() + 0.01


def test_copies_must_be_positive():
    with pytest.raises(ValueError, match="copies"):
        PhotoVariants(EmbeddedPhotos("test"), copies=0)
