"""Tiled inference: coverage, blending, and equality with a single pass where it must hold."""

from itertools import pairwise

import pytest
import torch

from aioir.models.tiling import TilePlan, blend_rows, even_tile, tile_starts, tiled_forward


@pytest.mark.parametrize("size,tile,overlap",
                         [(100, 40, 10), (64, 64, 8), (65, 64, 8), (7, 32, 4), (257, 96, 32)])
def test_windows_cover_the_image_with_the_overlap(size, tile, overlap):
    starts = tile_starts(size, tile, overlap)
    t = min(tile, size)
    covered = torch.zeros(size, dtype=torch.bool)
    for s in starts:
        assert s >= 0 and s + t <= size
        covered[s : s + t] = True
    assert covered.all()
    for a, b in pairwise(starts):
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


# --- plans, streaming, exactness ------------------------------------------------------------

@pytest.mark.parametrize("size,n,overlap", [(4000, 3, 32), (3000, 2, 32), (12000, 19, 32),
                                            (100, 4, 10), (65, 2, 0)])
def test_even_tile_is_the_smallest_covering_window(size, n, overlap):
    t = even_tile(size, n, overlap)
    assert n * t - (n - 1) * overlap >= size          # n windows overlapping by `overlap` cover
    assert n * (t - 1) - (n - 1) * overlap < size     # one pixel less would not
    assert len(tile_starts(size, t, overlap)) == n


def test_plan_geometry():
    p = TilePlan(3000, 4000, tile_h=even_tile(3000, 2, 32), tile_w=even_tile(4000, 3, 32))
    assert (len(p.rows), len(p.cols), p.windows) == (2, 3, 6)
    assert p.processed_pixels == 6 * 1516 * 1355
    assert TilePlan.single(30, 40).whole and TilePlan.square(30, 40, 64).whole
    with pytest.raises(ValueError, match="batch must be >= 1"):
        TilePlan(10, 10, 4, 4, overlap=1, batch=0)


def test_single_window_is_the_plain_forward_bit_for_bit():
    x = torch.rand(1, 3, 37, 29)
    fn = lambda t: t * t.mean() + torch.sin(t)  # global: any tiling would change it
    out = torch.cat([b.clone() for _, b in blend_rows(
        fn, lambda y0, y1, x0, x1: x[0, :, y0:y1, x0:x1], TilePlan.single(37, 29))], 1)
    assert torch.equal(out[None], fn(x))


def _reference_blend(fn, x, plan):
    """The documented blend, written out: per window, weight w(i) along each axis is 0 on the
    outer overlap//4 pixels of an inner edge, then rises linearly to 1 at the overlap's end."""
    _, c, h, w = x.shape
    num = torch.zeros(c, h, w, dtype=torch.float64)
    den = torch.zeros(h, w, dtype=torch.float64)

    def axis(length, start, size):
        ov, m = plan.overlap, plan.overlap // 4
        out = []
        for i in range(length):
            v = 1.0
            if start > 0 and i < ov:  # inner top/left edge
                v = min(v, max(0.0, min(1.0, (i - m + 1) / (ov - 2 * m + 1))))
            j = length - 1 - i
            if start + length < size and j < ov:  # inner bottom/right edge
                v = min(v, max(0.0, min(1.0, (j - m + 1) / (ov - 2 * m + 1))))
            out.append(v)
        return torch.tensor(out, dtype=torch.float64)

    for y0 in plan.rows:
        for x0 in plan.cols:
            win = fn(x[..., y0:y0 + plan.tile_h, x0:x0 + plan.tile_w])[0].double()
            wt = axis(plan.tile_h, y0, h)[:, None] * axis(plan.tile_w, x0, w)[None, :]
            num[:, y0:y0 + plan.tile_h, x0:x0 + plan.tile_w] += win * wt
            den[y0:y0 + plan.tile_h, x0:x0 + plan.tile_w] += wt
    return num / den


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_blend_matches_the_documented_weights_and_streams_rows(batch):
    x = torch.rand(1, 3, 75, 58)
    fn = lambda t: t * t.mean(dim=(1, 2, 3), keepdim=True) * 3  # depends on the whole window
    plan = TilePlan(75, 58, tile_h=32, tile_w=27, overlap=12, batch=batch)
    reads, calls, first_block_after = [], [], []

    def read(y0, y1, x0, x1):
        reads.append(y0)
        return x[0, :, y0:y1, x0:x1]

    def counted(t):
        calls.append(t.shape[0])
        return fn(t)

    blocks, next_row = [], 0
    for y0, block in blend_rows(counted, read, plan):
        assert y0 == next_row  # consecutive, top to bottom
        next_row += block.shape[1]
        if not blocks:
            first_block_after.extend(reads)
        blocks.append(block.clone())
    assert next_row == 75
    got = torch.cat(blocks, 1)
    assert torch.allclose(got.double(), _reference_blend(fn, x, plan), atol=1e-6)
    # streaming: the first rows come out before any window of the second row is read
    assert set(first_block_after) == {0}
    assert max(calls) <= batch and sum(calls) == plan.windows


def test_extra_output_channels_are_blended_too():
    x = torch.rand(1, 3, 40, 50)
    fn = lambda t: torch.cat([t, t.mean(1, keepdim=True)], 1)
    y = tiled_forward(fn, x, tile=24, overlap=8)
    assert y.shape == (1, 4, 40, 50) and torch.allclose(y, fn(x), atol=1e-6)


def test_tiled_restore_tells_of_every_window_and_eval_shows_them():
    """Issue 22: a tiled image reports its windows as they are restored (``aioir eval``'s
    display of one slow image): 100 x 130 in windows of 48 overlapping by 8 is a stride of 40,
    ceil(92 / 40) = 3 rows by ceil(122 / 40) = 4 columns."""
    import numpy as np

    from aioir import models
    from aioir.commands.eval import tile_progress
    from aioir.models.restore import restore_image

    net = models.build("tiny_unet", width=8)
    img = np.random.default_rng(0).random((100, 130, 3), dtype=np.float32)
    told: list[int] = []
    out = restore_image(net, img, tile=48, overlap=8, progress=told.append)
    assert sum(told) == 12 and len(told) == 3  # one call per row (4 windows a batch)
    assert np.allclose(out, restore_image(net, img, tile=48, overlap=8), atol=0)
    display = tile_progress(img, 48, 8)
    assert display.total == 12
    display.close()
    assert tile_progress(img, 200, 8) is None  # whole: nothing to count inside it
