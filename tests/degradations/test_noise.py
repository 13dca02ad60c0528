"""Gaussian noise: the measured std on a flat grey image matches the drawn sigma."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aioir.degradations import apply


def clipped_std(sigma: float, mean: float = 0.5) -> float:
    """Std of ``clip(mean + N(0, sigma²), 0, 1)`` for ``mean = 0.5`` (symmetric censoring), by hand.

    With c = 0.5 / sigma in std units: Var/sigma² = (2 Phi(c) - 1) - 2 c phi(c) + 2 c² (1 - Phi(c)).
    """
    c = mean / sigma
    phi = math.exp(-c * c / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + math.erf(c / math.sqrt(2)))
    return sigma * math.sqrt((2 * cdf - 1) - 2 * c * phi + 2 * c * c * (1 - cdf))


@pytest.mark.parametrize("dist", ["in", "out"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_measured_sigma_matches_drawn(dist, seed):
    grey = np.full((96, 96, 3), 0.5, np.float32)
    out, p = apply("noise", grey, np.random.default_rng(seed), dist=dist)
    sigma = p["sigma"] / 255.0
    assert abs(float(out.std()) / clipped_std(sigma) - 1) < 0.02
    assert abs(float(out.mean()) - 0.5) < 4 * sigma / math.sqrt(out.size)
    # Noise is independent across the RGB channels (not one grey noise copied three times).
    corr = np.corrcoef(out[..., 0].ravel(), out[..., 1].ravel())[0, 1]
    assert abs(corr) < 0.05


@pytest.mark.parametrize("task,level", [("denoise_15", 15), ("denoise_25", 25), ("denoise_50", 50)])
def test_fixed_level_tasks(task, level):
    grey = np.full((96, 96, 3), 0.5, np.float32)
    out, p = apply(task, grey, np.random.default_rng(0))
    assert p == {"sigma": level}
    assert abs(float(out.std()) / clipped_std(level / 255.0) - 1) < 0.02


def test_fixed_level_cannot_be_changed():
    with pytest.raises(ValueError, match="domain"):
        apply("denoise_15", np.zeros((4, 4, 3), np.float32), np.random.default_rng(0), sigma=25)


def test_clipped_to_unit_range():
    out, _ = apply("noise", np.ones((32, 32, 3), np.float32), np.random.default_rng(0), sigma=70)
    assert out.max() == 1.0 and out.min() >= 0.0 and (out < 1).mean() > 0.4
