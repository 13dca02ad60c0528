"""The crossed bootstrap against independent computations: scipy.stats on one seed, and the
closed-form variance of the crossed bootstrap (computed here from a two-way decomposition)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from aioir.report.stats import AVERAGE, paired_intervals, replicates, resampling


def test_one_seed_matches_scipy_bootstrap_and_t_interval():
    rng = np.random.default_rng(1)
    d = rng.normal(0.3, 1.0, size=400)
    r = paired_intervals(d[None, :], np.zeros(400, int), resampling(1, [400], n_boot=20_000))
    ours = r[0]
    assert ours["estimate"] == pytest.approx(d.mean(), abs=1e-12)
    ref = sps.bootstrap((d,), np.mean, n_resamples=20_000, method="percentile",
                        random_state=np.random.default_rng(7)).confidence_interval
    assert ours["lo"] == pytest.approx(ref.low, abs=0.01)
    assert ours["hi"] == pytest.approx(ref.high, abs=0.01)
    # and, for this many normal values, the classical t interval of a paired mean
    lo, hi = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert ours["lo"] == pytest.approx(lo, abs=0.015)
    assert ours["hi"] == pytest.approx(hi, abs=0.015)
    assert ours["excludes_zero"] == (lo > 0)


def _closed_form(block: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Seed effects, mean squared image effect and residual of a (G, n) block."""
    grand = block.mean()
    a = block.mean(axis=1) - grand
    b = block.mean(axis=0) - grand
    e = block - grand - a[:, None] - b[None, :]
    return a, float(np.mean(b**2)), float(np.mean(e**2))


def test_crossed_bootstrap_variance_matches_its_closed_form():
    rng = np.random.default_rng(2)
    g, sizes = 4, [5, 12, 30]
    groups = np.repeat(np.arange(3), sizes)
    n = len(groups)
    seed_effect = rng.normal(0, 0.4, size=(g, 1))
    image_effect = rng.normal(0, 1.0, size=(1, n)) * np.repeat([0.5, 1.0, 2.0], sizes)
    d = 0.2 + seed_effect + image_effect + rng.normal(0, 0.3, size=(g, n))
    r = resampling(g, sizes, n_boot=40_000, seed=3)
    reps = replicates(d, groups, r)

    blocks = [d[:, groups == t] for t in range(3)]
    seed_parts = []
    for t, block in enumerate(blocks):
        a, b2, e2 = _closed_form(block)
        m = block.shape[1]
        expected = np.mean(a**2) / g + b2 / m + e2 / (g * m)
        assert reps[:, t].var() == pytest.approx(expected, rel=0.04), t
        assert reps[:, t].mean() == pytest.approx(block.mean(), abs=4 * np.sqrt(expected / 40_000))
        seed_parts.append(a)
    abar = np.mean(seed_parts, axis=0)
    image_part = sum(_closed_form(b)[1] / b.shape[1] + _closed_form(b)[2] / (g * b.shape[1])
                     for b in blocks) / 9
    expected_avg = np.mean(abar**2) / g + image_part
    assert reps.mean(axis=1).var() == pytest.approx(expected_avg, rel=0.04)

    out = paired_intervals(d, groups, r)
    assert out[AVERAGE]["estimate"] == pytest.approx(np.mean([b.mean() for b in blocks]))
    # a clear effect (0.2 + noise, interval well above 0) is marked
    lo, hi = np.percentile(reps.mean(axis=1), [2.5, 97.5])
    assert (out[AVERAGE]["lo"], out[AVERAGE]["hi"]) == pytest.approx((lo, hi))


def test_seed_only_variation_is_a_bootstrap_of_the_seed_means():
    # every image of a seed has the same difference: the crossed bootstrap reduces to resampling
    # the seed means, whose variance is their plug-in variance over G
    seed_means = np.array([0.1, -0.4, 0.6, 0.3, 0.0, 0.2])
    d = np.repeat(seed_means[:, None], 10, axis=1)
    reps = replicates(d, np.zeros(10, int), resampling(6, [10], n_boot=40_000, seed=4))
    assert reps[:, 0].var() == pytest.approx(np.var(seed_means) / 6, rel=0.04)


def test_no_interval_without_anything_to_resample_and_zero_is_not_excluded():
    d = np.array([[0.5, -0.2, 0.1]])  # one seed, one image per task
    out = paired_intervals(d, np.arange(3), resampling(1, [1, 1, 1], n_boot=100))
    for key in (0, 1, 2, AVERAGE):
        assert np.isnan(out[key]["lo"]) and not out[key]["excludes_zero"]
    assert out[1]["estimate"] == pytest.approx(-0.2)
    zero = paired_intervals(np.zeros((2, 4)), np.zeros(4, int), resampling(2, [4], n_boot=100))
    assert zero[0]["lo"] == zero[0]["hi"] == 0.0 and not zero[0]["excludes_zero"]


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="expected \\(seeds, images\\)"):
        replicates(np.zeros((2, 3)), np.zeros(3, int), resampling(3, [3], n_boot=10))
