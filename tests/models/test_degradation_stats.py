"""degradation_stats against a NumPy re-implementation of the table in its docstring."""

import numpy as np
import pytest
import torch

from aioir.models.degradation_stats import (
    NUM_STATS,
    degradation_stats,
    median,
    phase_medians,
    quantiles,
)


def reference(img: np.ndarray) -> np.ndarray:
    """The statistics of one (C, H, W) float64 image, written from the docstring's table."""
    eps = 1e-4
    g = img.mean(0)
    flat = g.ravel()
    step = max(1, flat.size // 4096)
    q05, q50, q95 = np.quantile(flat[::step], [0.05, 0.5, 0.95])
    ax, ay = np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0))
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    al = np.abs(lap)
    out = [q05, q50, q95, np.log(q95 - q05 + eps), np.log(g.mean() + 0.02),
           np.log(g.std(ddof=1) + eps), img.min(0).mean(),
           np.log(ax.mean() + eps), np.log(ay.mean() + eps), np.log(al.mean() + eps),
           np.log(np.median(al) + eps), np.log(al.mean() / (ax.mean() + ay.mean() + eps) + eps)]
    cx = np.abs(g[:, 2:] - 2 * g[:, 1:-1] + g[:, :-2])
    cy = np.abs(g[2:, :] - 2 * g[1:-1, :] + g[:-2, :])
    for a, axis, period, how in ((ax, 1, 8, np.median), (ay, 0, 8, np.median),
                                 (cx, 1, 4, np.mean), (cy, 0, 4, np.mean)):
        n = a.shape[axis] // period * period
        m = np.array([how(np.take(a, np.arange(p, n, period), axis=axis))
                      for p in range(period)]) + eps
        out += [np.log(m.max() / m.mean()), np.log(m.min() / m.mean())]
    h = lap.ravel()
    skew = ((h - h.mean()) ** 3).mean() / (h.std(ddof=1) + eps) ** 3
    out.append(np.clip(skew, -5, 5) / 5)
    return np.array(out)


@pytest.mark.parametrize("shape", [(3, 37, 50), (1, 20, 24)])
def test_statistics_match_a_numpy_reference(shape):
    rng = np.random.default_rng(3)
    img = rng.random(shape) ** 2
    got = degradation_stats(torch.from_numpy(img)[None]).numpy()[0]
    assert got.shape == (NUM_STATS,)
    assert np.allclose(got, reference(img), atol=1e-9)


def test_quantiles_subsample_large_images():
    img = np.random.default_rng(4).random((3, 130, 140))  # 18200 pixels: every 4th
    got = degradation_stats(torch.from_numpy(img)[None]).numpy()[0]
    assert np.allclose(got, reference(img), atol=1e-9)


def test_phase_medians_by_hand():
    a = torch.arange(24.0).reshape(1, 2, 12)   # rows 0..11 and 12..23
    # columns 0, 4, 8 of both rows: 0, 4, 8, 12, 16, 20 -> median 10 (mean of 8 and 12)
    assert phase_medians(a, 4, 2)[0].tolist() == [10.0, 11.0, 12.0, 13.0]
    assert phase_medians(a.transpose(1, 2), 4, 1)[0].tolist() == [10.0, 11.0, 12.0, 13.0]


def test_a_block_grid_raises_the_period_8_ratio_and_not_the_period_4_one_along_y():
    """Steps at every 8th column (an 8 x 8 grid seen along x): the phase holding them has the
    median |dx| of the step, the others zero."""
    g = np.zeros((16, 33))
    g[:, 8:16] = g[:, 24:32] = 0.1          # steps between columns 7|8, 15|16, 23|24, 31|32
    img = np.repeat(g[None], 3, 0)
    s = degradation_stats(torch.from_numpy(img)[None]).numpy()[0]
    m = np.full(8, 1e-4)
    m[7] += 0.1                              # |dx| index 7, 15, 23, 31 hold the steps
    assert s[12] == pytest.approx(np.log(m.max() / m.mean()))
    assert s[14] == pytest.approx(0.0, abs=1e-12)  # no structure along y


def test_small_images_are_extended_by_their_last_row_and_column():
    img = np.random.default_rng(5).random((3, 5, 7))
    extended = np.pad(img, ((0, 0), (0, 4), (0, 2)), mode="edge")   # to 9 x 9
    got = degradation_stats(torch.from_numpy(img)[None]).numpy()[0]
    assert np.allclose(got, reference(extended), atol=1e-9)


def test_rejects_badly_shaped_inputs():
    with pytest.raises(ValueError, match="B, C, H, W"):
        degradation_stats(torch.rand(3, 30, 30))


@pytest.mark.parametrize("n", [1, 2, 7, 20, 4096, 4097])
def test_quantiles_equal_torch_quantile_bit_for_bit(n):
    """The export-friendly quantiles (sort, index, lerp) against torch.quantile's linear
    interpolation, on random values, values with ties, and many quantile levels."""
    g = torch.Generator().manual_seed(n)
    q = torch.cat([torch.tensor([0.0, 0.05, 0.5, 0.95, 1.0]), torch.rand(20, generator=g)])
    for a in (torch.rand(3, n, generator=g), torch.randint(0, 5, (3, n), generator=g).float(),
              torch.randn(2, n, generator=g, dtype=torch.float64)):
        want = torch.quantile(a, q.to(a.dtype), dim=1).T
        assert torch.equal(quantiles(a, q.to(a.dtype)), want)


def test_median_is_the_mean_of_the_middle_values():
    a = torch.randn(4, 11, generator=torch.Generator().manual_seed(0))
    assert torch.equal(median(a), a.median(1).values)           # odd: the middle value
    b = torch.tensor([[4.0, 1.0, 3.0, 2.0]])
    assert median(b).tolist() == [2.5]


def _traced_stats():
    with torch.no_grad():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.trace(lambda x: degradation_stats(x), torch.rand(1, 3, 67, 93),
                                   check_trace=False)


@pytest.mark.parametrize("shape", [(1, 3, 130, 140), (2, 3, 45, 61), (1, 3, 5, 7)])
def test_a_trace_computes_every_size_as_the_eager_code(shape):
    """Traced on one size (TorchScript/ONNX exports trace), the statistics of other sizes and
    batches: the quantile subsampling step, the phase cuts, the medians' middle and the small-
    image extension are recorded as size arithmetic, not the example's numbers."""
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
    assert torch.equal(_traced_stats()(x), degradation_stats(x))
