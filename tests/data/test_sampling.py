"""Deterministic per-sample streams, the balanced task schedule and the patch operations."""

from __future__ import annotations

import numpy as np
import pytest

from aioir.data.sampling import balanced_choice, choose, sample_rng
from aioir.data.transforms import (
    center_crop,
    dihedral,
    pad_to_min,
    quantize8,
    random_crop,
    random_views,
)


def test_sample_rng_is_default_rng_of_seed_and_index() -> None:
    assert np.array_equal(sample_rng(7, 3).random(4), np.random.default_rng([7, 3]).random(4))
    with pytest.raises(ValueError):
        sample_rng(-1, 0)


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_every_block_is_a_permutation(k: int) -> None:
    for seed in (0, 11):
        ids = [balanced_choice(seed, i, k) for i in range(20 * k)]
        for b in range(20):
            assert sorted(ids[b * k : (b + 1) * k]) == list(range(k))


def test_block_orders_vary_with_seed_and_block() -> None:
    a = [balanced_choice(0, i, 7) for i in range(70)]
    b = [balanced_choice(1, i, 7) for i in range(70)]
    assert a != b
    assert len({tuple(a[i : i + 7]) for i in range(0, 70, 7)}) > 1


def test_random_choice_is_not_block_balanced() -> None:
    ids = [choose(3, i, 4, sample_rng(3, i), "random") for i in range(400)]
    counts = np.bincount(ids, minlength=4)
    assert counts.min() > 60  # roughly uniform (expected 100 each)
    assert any(sorted(ids[b : b + 4]) != [0, 1, 2, 3] for b in range(0, 400, 4))
    with pytest.raises(ValueError):
        choose(0, 0, 3, sample_rng(0, 0), "fair")


def test_pad_reflects_at_bottom_right() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3, 1)
    out = pad_to_min(a, 3, 5)[..., 0]
    assert out.tolist() == [[0, 1, 2, 1, 0], [3, 4, 5, 4, 3], [0, 1, 2, 1, 0]]
    line = np.array([[[5.0]], [[6.0]]])  # one pixel wide: edge repeat
    assert pad_to_min(line, 2, 3)[..., 0].tolist() == [[5, 5, 5], [6, 6, 6]]


def test_random_crop_takes_the_same_window_everywhere() -> None:
    h, w = 9, 11
    pos = np.arange(h * w, dtype=np.float64).reshape(h, w, 1)  # value = y * w + x
    seen = set()
    for s in range(200):
        a, b = random_crop([pos, pos + 1000], (4, 5), np.random.default_rng(s))
        assert a.shape == (4, 5, 1) and np.array_equal(b, a + 1000)
        y0, x0 = divmod(int(a[0, 0, 0]), w)
        expected = (y0 + np.arange(4))[:, None] * w + (x0 + np.arange(5))[None, :]
        assert np.array_equal(a[..., 0], expected)
        seen.add((y0, x0))
    assert (0, 0) in seen and (h - 4, w - 5) in seen  # both extreme positions are reachable


def test_dihedral_gives_the_eight_symmetries() -> None:
    a = np.array([[1, 2, 3], [4, 5, 6]])[..., None]
    assert dihedral(a, 0)[..., 0].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert dihedral(a, 1)[..., 0].tolist() == [[3, 6], [2, 5], [1, 4]]  # quarter turn CCW
    assert dihedral(a, 2)[..., 0].tolist() == [[6, 5, 4], [3, 2, 1]]
    assert dihedral(a, 4)[..., 0].tolist() == [[3, 2, 1], [6, 5, 4]]  # mirror
    outs = {dihedral(a, k)[..., 0].tobytes() + bytes(dihedral(a, k).shape) for k in range(8)}
    assert len(outs) == 8


def test_center_crop_and_quantize() -> None:
    a = np.arange(21 * 50, dtype=np.float32).reshape(21, 50, 1)
    c = center_crop(a, max_size=32, multiple=8)
    assert c.shape == (16, 32, 1)
    assert c[0, 0, 0] == a[(21 - 16) // 2, (50 - 32) // 2, 0]
    q = quantize8(np.random.default_rng(0).uniform(-0.1, 1.1, 1000))
    assert np.allclose(q * 255, np.round(q * 255), atol=1e-4) and q.min() == 0 and q.max() == 1


def test_random_views_are_windows() -> None:
    img = np.arange(64, dtype=np.float64).reshape(8, 8, 1)
    v = random_views(img, 3, 4, np.random.default_rng(0))
    assert v.shape == (3, 4, 4, 1)
    for view in v:
        y0, x0 = divmod(int(view[0, 0, 0]), 8)
        assert np.array_equal(view, img[y0 : y0 + 4, x0 : x0 + 4])
