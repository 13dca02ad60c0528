"""degradation_stats against a NumPy re-implementation of the table in its docstring; the JPEG
lattice against SciPy's DCT and the quantisation tables Pillow (libjpeg) writes."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.fft import dctn

from aioir.data.sources import EmbeddedPhotos
from aioir.models.degradation_stats import (
    JPEG_QUALITIES,
    LATTICE_BLOCKS,
    NUM_STATS,
    degradation_stats,
    ijg_table,
    jpeg_lattice,
    median,
    phase_medians,
    quantiles,
)


def pil_table(quality: int) -> np.ndarray:
    """The luminance table libjpeg (through Pillow) writes at ``quality``, in natural order."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format="JPEG", quality=quality)
    return np.array(Image.open(buf).quantization[0], dtype=np.float64).reshape(8, 8)


def lattice_reference(img: np.ndarray) -> float:
    """The JPEG lattice statistic of one (C, H, W) float64 image, from the module docstring: SciPy's
    orthonormal 2-D DCT of the 8 x 8 luma blocks, Pillow's tables."""
    y = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2] if img.shape[0] == 3
         else img.mean(0)) * 255
    h, w = y.shape[0] // 8 * 8, y.shape[1] // 8 * 8
    blocks = y[:h, :w].reshape(h // 8, 8, w // 8, 8).swapaxes(1, 2).reshape(-1, 8, 8)
    blocks = blocks[::max(1, len(blocks) // LATTICE_BLOCKS)]
    c = dctn(blocks, axes=(1, 2), norm="ortho")
    best = -np.inf
    for q in JPEG_QUALITIES:
        t = pil_table(q)
        on = np.abs(c) >= t / 2
        on[:, 0, 0] = False
        best = max(best, (np.cos(2 * np.pi * c / t) * on).sum() / (on.sum() + 1))
    return best


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """(H, W, 3) uint8 through Pillow's JPEG at ``quality``."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


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


@pytest.mark.parametrize("quality", [1, 10, 25, 30, 49, 50, 51, 70, 75, 90, 100])
def test_ijg_tables_are_the_ones_libjpeg_writes(quality):
    assert np.array_equal(ijg_table(quality).numpy(), pil_table(quality))


def _as_x(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].double() / 255


@pytest.mark.parametrize("shape", [(3, 61, 83), (1, 40, 48), (3, 8, 8)])
def test_the_lattice_matches_scipy_and_pillow(shape):
    rng = np.random.default_rng(11)
    img = rng.random(shape)
    assert float(jpeg_lattice(torch.from_numpy(img)[None])) == pytest.approx(
        lattice_reference(img), abs=1e-9)
    if shape[0] == 3:  # on the lattice: a decoded JPEG at a quality of the range
        dec = jpeg_roundtrip((img.transpose(1, 2, 0) * 255).astype(np.uint8), 40)
        got = float(jpeg_lattice(_as_x(dec)))
        assert got == pytest.approx(lattice_reference(dec.transpose(2, 0, 1) / 255.0), abs=1e-9)


def test_the_lattice_reads_evenly_spaced_blocks_of_a_large_image():
    img = np.random.default_rng(12).random((3, 8 * 50, 8 * 90))  # 4500 blocks: every 2nd
    assert float(jpeg_lattice(torch.from_numpy(img)[None])) == pytest.approx(
        lattice_reference(img), abs=1e-9)


def test_the_lattice_tells_jpeg_in_its_range_from_a_photograph_and_from_other_qualities():
    """A real photograph: about 1 after JPEG at a quality of the range, about 0 undegraded,
    after JPEG outside the range (90) or after a shift of the block grid (a crop by 4 px);
    sensor noise (sigma 8) on the JPEG leaves part of it (the coarsest steps)."""
    photo = (np.asarray(EmbeddedPhotos("train")[0], np.float32) * 255).round().astype(np.uint8)
    photo = photo[:256, :256]
    assert float(jpeg_lattice(_as_x(photo))) < 0.25
    for quality in (30, 47, 70):
        dec = jpeg_roundtrip(photo, quality)
        assert float(jpeg_lattice(_as_x(dec))) > 0.8, quality
        assert float(jpeg_lattice(_as_x(dec[4:, 4:]))) < 0.25, quality
        noisy = np.clip(dec + np.random.default_rng(quality).normal(0, 8, dec.shape), 0, 255)
        assert float(jpeg_lattice(_as_x(noisy.round()))) < 0.5, quality  # coarse steps outlast
    assert float(jpeg_lattice(_as_x(jpeg_roundtrip(photo, 90)))) < 0.25
