"""Tiled inference: coverage, blending, and equality with a single pass where it must hold."""

import pytest
import torch

from aioir.models.tiling import tile_starts, tiled_forward


@pytest.mark.parametrize("size,tile,overlap", [(100, 40, 10), (64, 64, 8), (65, 64, 8), (7, 32, 4), (257, 96, 32)])
def test_windows_cover_the_image_with_the_overlap(size, tile, overlap):
    starts = tile_starts(size, tile, overlap)
    t = min(tile, size)
    covered = torch.zeros(size, dtype=torch.bool)
    for s in starts:
        assert 0 <= s and s + t <= size
        covered[s : s + t] = True
    assert covered.all()
    for a, b in zip(starts, starts[1:]):
        assert a + t - b >= overlap  # consecutive windows overlap by at least `overlap`


def test_pointwise_model_is_reproduced_exactly():
    x = torch.rand(1, 3, 70, 45)
    fn = lambda t: torch.sigmoid(3 * t) - t ** 2
    assert torch.allclose(tiled_forward(fn, x, tile=32, overlap=8), fn(x), atol=1e-6)


def test_local_model_matches_inside_when_overlap_exceeds_receptive_field():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 3, 5, padding=2, padding_mode="replicate")
    x = torch.rand(1, 3, 90, 77)
    with torch.no_grad():
        full = conv(x)
        tiled = tiled_forward(conv, x, tile=40, overlap=12)
    # a 5x5 conv sees 2 px: with 12 px overlap and ramp weights the blended pixels come from
    # windows where they are >= 2 px inside, except at the true image border (same in both)
    assert torch.allclose(full, tiled, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="larger than overlap"):
        tile_starts(100, 8, 8)
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        tiled_forward(lambda t: t, torch.rand(2, 3, 8, 8), tile=4, overlap=1)
