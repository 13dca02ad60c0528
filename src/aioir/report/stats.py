"""Paired differences to a baseline with a 95 % interval, over training seeds and test images.

The unit of the bench is a (seed, test image) pair: for strategy ``S`` and baseline ``B`` trained
with the same seed on the same data, ``d[s, i] = metric_S(s, i) - metric_B(s, i)`` on test image
``i``. Every seed is evaluated on the *same* test images, so seeds and images are crossed, not
nested, and both are sources of variation a claim must survive: another training seed (the
networks differ) and other test images (the photographs differ).

Estimate (the table's convention): per task, the mean of ``d`` over seeds and the task's images;
the average column is the mean of the task estimates (each task counts once).

Interval: a *crossed* ("pigeonhole", Owen 2007) percentile bootstrap. One replicate draws ``G``
seeds with replacement from the ``G`` seeds, and, independently for every task, ``n_t`` images
with replacement from that task's ``n_t`` images; the replicate is the estimate above on the
``G x n_t`` cross of the draws (one seed draw shared by all tasks, because a seed's network
restores every task). The 95 % interval is the 2.5 and 97.5 percentiles of ``n_boot`` replicates
(10,000 by default, drawn from a fixed generator so the same data give the same table).

Its variance has a closed form, which the tests check the resampling against. Decompose one
task's ``d`` (a ``G x n`` matrix) into grand mean, seed effects ``a_s`` (row means minus the grand
mean), image effects ``b_i`` (column means minus it) and the residual ``e``; then

    Var*(task estimate) = mean(a^2) / G + mean(b^2) / n + mean(e^2) / (G n)

and for the average column ``mean_s(abar_s^2) / G + sum_t [mean(b_t^2) / n_t +
mean(e_t^2) / (G n_t)] / T^2`` with ``abar_s`` the seed effects averaged over the ``T`` tasks.

Caveats, stated with every table: with few seeds the seed term rests on few values (and the
bootstrap's plug-in variance is ``(G-1)/G`` of the unbiased one), so with 3 seeds read the
interval as approximate; with a single seed it covers test-image variation only. A column with
one seed and one image per task has no interval (``nan``).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> d = 0.5 + rng.normal(0, 1, size=(3, 60))           # 3 seeds x 60 images, true mean 0.5
>>> groups = np.repeat([0, 1], 30)                      # two tasks of 30 images
>>> r = paired_intervals(d, groups, resampling(3, np.bincount(groups), n_boot=2000))
>>> r["average"]["estimate"] == float(np.mean([d[:, :30].mean(), d[:, 30:].mean()]))
True
>>> bool(r["average"]["lo"] < r["average"]["estimate"] < r["average"]["hi"])
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Resampling", "resampling", "replicates", "paired_intervals", "METHOD", "AVERAGE"]

#: key of the average column
AVERAGE = "average"

#: one-paragraph description written under every bench table
METHOD = (
    "Differences are paired over (seed, test image): same seed, data stream and test images for "
    "both strategies. 95 % interval: crossed percentile bootstrap (seeds and, per task, test "
    "images resampled with replacement; {n_boot} replicates, fixed generator). `*`: the interval "
    "excludes 0. Means +/- std are over seeds (std with ddof 1) of each seed's per-task mean and "
    "of its average over tasks. With few seeds the seed part of the interval rests on few values: "
    "read it as approximate."
)


@dataclass(frozen=True)
class Resampling:
    """Bootstrap weights shared by every column and strategy of one table.

    ``seed_weights``: (n_boot, G), the number of times each seed is drawn divided by G.
    ``image_weights[t]``: (n_boot, n_t), likewise for the images of task ``t``.
    """

    seed_weights: np.ndarray
    image_weights: tuple[np.ndarray, ...]

    @property
    def n_boot(self) -> int:
        return int(self.seed_weights.shape[0])


def resampling(
    n_seeds: int, group_sizes: Sequence[int], n_boot: int = 10_000, seed: int = 0
) -> Resampling:
    """Draw the crossed bootstrap's weights for ``n_seeds`` seeds and tasks of ``group_sizes``.

    >>> r = resampling(2, [3, 1], n_boot=5)
    >>> r.seed_weights.shape, [w.shape for w in r.image_weights], r.seed_weights.sum(1).tolist()
    ((5, 2), [(5, 3), (5, 1)], [1.0, 1.0, 1.0, 1.0, 1.0])
    """
    group_sizes = [int(m) for m in group_sizes]
    if n_seeds < 1 or n_boot < 1 or not group_sizes or min(group_sizes) < 1:
        raise ValueError("need at least one seed, one replicate and one image per task")
    rng = np.random.default_rng(seed)

    def draw(n: int) -> np.ndarray:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) / n

    seeds = draw(n_seeds)
    return Resampling(seeds, tuple(draw(m) for m in group_sizes))


def _group_index(groups: np.ndarray, n_groups: int) -> list[np.ndarray]:
    return [np.flatnonzero(groups == t) for t in range(n_groups)]


def replicates(d: np.ndarray, groups: np.ndarray, r: Resampling) -> np.ndarray:
    """Bootstrap replicates of the per-task estimates: (n_boot, T).

    ``d``: (G, n) paired differences; ``groups``: (n,) task index of each image, 0..T-1, in the
    order of ``r.image_weights``.
    """
    d = np.asarray(d, dtype=np.float64)
    groups = np.asarray(groups)
    n_groups = len(r.image_weights)
    if d.ndim != 2 or d.shape[0] != r.seed_weights.shape[1] or d.shape[1] != groups.shape[0]:
        raise ValueError(f"d has shape {d.shape}; expected (seeds, images) = "
                         f"({r.seed_weights.shape[1]}, {groups.shape[0]})")
    out = np.empty((r.n_boot, n_groups))
    for t, idx in enumerate(_group_index(groups, n_groups)):
        if len(idx) != r.image_weights[t].shape[1]:
            raise ValueError(f"task {t} has {len(idx)} images, the resampling "
                             f"{r.image_weights[t].shape[1]}")
        # sum_s sum_i w_s d[s, i] c_i for every replicate
        out[:, t] = np.einsum("bs,si,bi->b", r.seed_weights, d[:, idx], r.image_weights[t])
    return out


def _interval(estimate: float, reps: np.ndarray, defined: bool) -> dict[str, Any]:
    if not defined or not np.all(np.isfinite(reps)) or not math.isfinite(estimate):
        lo = hi = math.nan
    else:
        lo, hi = (float(v) for v in np.percentile(reps, [2.5, 97.5]))
    return {
        "estimate": float(estimate),
        "lo": lo,
        "hi": hi,
        "excludes_zero": bool(lo > 0 or hi < 0),  # False when nan
    }


def paired_intervals(d: np.ndarray, groups: np.ndarray, r: Resampling) -> dict[Any, dict[str, Any]]:
    """Estimate and 95 % interval of every task (keys ``0..T-1``) and of :data:`AVERAGE`.

    Each value: ``{"estimate", "lo", "hi", "excludes_zero"}``; ``lo``/``hi`` are ``nan`` where
    there is nothing to resample (one seed and one image) or a difference is not finite.
    """
    d = np.asarray(d, dtype=np.float64)
    groups = np.asarray(groups)
    n_groups = len(r.image_weights)
    index = _group_index(groups, n_groups)
    reps = replicates(d, groups, r)
    estimates = [float(d[:, idx].mean()) for idx in index]
    many_seeds = d.shape[0] > 1
    out: dict[Any, dict[str, Any]] = {
        t: _interval(estimates[t], reps[:, t], many_seeds or len(index[t]) > 1)
        for t in range(n_groups)
    }
    out[AVERAGE] = _interval(
        float(np.mean(estimates)), reps.mean(axis=1), many_seeds or any(len(i) > 1 for i in index)
    )
    return out
