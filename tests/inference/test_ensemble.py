"""The flip/rotation self-ensemble: exact bookkeeping of the 8 transforms and their inverses,
on models that are not equivariant, against averages worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aioir.inference.ensemble import DIHEDRAL, flip_ensemble, invert, transform, with_ensemble


def test_the_eight_transforms_are_distinct_and_inverted():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    images = {tuple(transform(k, f, x).flatten().tolist()) + tuple(transform(k, f, x).shape)
              for k, f in DIHEDRAL}
    assert len(images) == 8
    for k, f in DIHEDRAL:
        assert torch.equal(invert(k, f, transform(k, f, x)), x)


@pytest.mark.parametrize("h,w", [(6, 6), (5, 9)])
def test_column_index_model_averages_to_a_constant(h, w):
    """f(x) = x * (column index of x's frame). In the 8 frames, the column index of a pixel
    (i, j) of the original is j, W-1-j, i or H-1-i, each twice: the average is (H + W - 2) / 4."""
    def f(t):
        cols = torch.arange(t.shape[-1], dtype=t.dtype)
        return t * cols

    x = torch.rand(2, 3, h, w)
    y = flip_ensemble(f)(x)
    assert torch.allclose(y, x * (h + w - 2) / 4, atol=1e-6)


def test_shift_model_averages_the_four_directions():
    """f moves the content one pixel right; conjugated by the 8 transforms it moves it right,
    left, up and down, each twice."""
    shift = lambda t: torch.roll(t, 1, dims=-1)
    x = torch.rand(1, 3, 7, 10)
    expected = (torch.roll(x, 1, -1) + torch.roll(x, -1, -1) + torch.roll(x, 1, -2)
                + torch.roll(x, -1, -2)) / 4
    assert torch.allclose(flip_ensemble(shift)(x), expected, atol=1e-6)


def test_matches_an_independent_numpy_enumeration():
    """A random convolutional network (not equivariant), against the 8 transforms enumerated
    with numpy in another order: rotate first, then mirror."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, padding=1), torch.nn.GELU(),
                              torch.nn.Conv2d(5, 3, (3, 1), padding=(1, 0)))
    x = torch.rand(1, 3, 9, 13)

    def f_np(a):  # HWC numpy -> HWC numpy through the network
        t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
        with torch.no_grad():
            return net(t)[0].permute(1, 2, 0).numpy()

    a = x[0].permute(1, 2, 0).numpy()
    total = np.zeros_like(a, dtype=np.float64)
    for k in range(4):
        for mirror in (False, True):
            g = np.rot90(a, k)
            g = g[:, ::-1] if mirror else g
            out = f_np(g)
            out = out[:, ::-1] if mirror else out
            total += np.rot90(out, -k)
    expected = torch.from_numpy(total / 8).permute(2, 0, 1)[None].float()
    assert torch.allclose(flip_ensemble(net)(x), expected, atol=1e-5)


def test_equivariant_model_is_unchanged_and_input_untouched():
    f = lambda t: torch.sigmoid(3 * t)
    x = torch.rand(1, 3, 8, 11)
    keep = x.clone()
    assert torch.allclose(flip_ensemble(f)(x), f(x), atol=1e-6)
    assert torch.equal(x, keep)
    identity = lambda t: t
    assert torch.allclose(flip_ensemble(identity)(x), x, atol=1e-6) and torch.equal(x, keep)


def test_choices():
    f = lambda t: t
    assert with_ensemble(f, "none") is f
    with pytest.raises(ValueError, match="unknown ensemble 'flip'"):
        with_ensemble(f, "flip")
