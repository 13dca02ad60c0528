"""Deterministic per-sample randomness and task scheduling.

Sample ``i`` of every aioir dataset is a pure function of ``(seed, i)``: its generator is
``numpy.random.default_rng([seed, i])``. A resumed run therefore sees exactly the data it would
have seen, and DataLoader workers need no seeding of their own.

Balanced task schedule: indices are grouped in consecutive blocks of ``K``; block ``b`` is a
permutation of the ``K`` tasks drawn from ``default_rng([seed, b, BLOCK_TAG])`` (the tag keeps this
stream apart from the per-sample streams), so every block holds each task exactly once.

>>> [balanced_choice(0, i, 3) for i in range(6)].count(2)
2
>>> sorted(balanced_choice(5, i, 4) for i in range(4, 8))
[0, 1, 2, 3]
"""

from __future__ import annotations

import hashlib
from typing import Literal

import numpy as np

#: salt separating the block-permutation streams from the per-sample streams
BLOCK_TAG = 0x7A5C_B10C

Balance = Literal["balanced", "random"]


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` under run seed ``seed`` (both non-negative ints).

    >>> float(sample_rng(1, 2).random()) == float(np.random.default_rng([1, 2]).random())
    True
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    return np.random.default_rng([int(seed), int(index)])


def name_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of the file called ``name`` (a relative path, POSIX separators):
    ``default_rng([seed, w0, w1, w2, w3])`` with ``w0..w3`` the first 16 bytes of
    ``sha256(name)`` as little-endian 32-bit words. What happens to one file then depends only
    on the seed and its name, not on the other files or their order (``aioir degrade`` and the
    synthetic test sets).

    >>> float(name_rng(0, "a.png").random()) == float(name_rng(0, "a.png").random())
    True
    >>> float(name_rng(0, "a.png").random()) == float(name_rng(0, "b.png").random())
    False
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([int(seed), *words])


def balanced_choice(seed: int, index: int, k: int, stream: int = 0) -> int:
    """Which of ``k`` choices index ``index`` gets in the balanced block schedule.

    ``stream`` > 0 selects an independent schedule (block ``b`` drawn from
    ``default_rng([seed, b, BLOCK_TAG, stream])``): a training stage with its own task subset
    counts its indices from its start in its own stream.
    """
    if k < 1:
        raise ValueError(f"need at least one choice, got k={k}")
    if k == 1:
        return 0
    block, pos = divmod(int(index), k)
    key = [int(seed), block, BLOCK_TAG] + ([int(stream)] if stream else [])
    perm = np.random.default_rng(key).permutation(k)
    return int(perm[pos])


def choose(seed: int, index: int, k: int, rng: np.random.Generator, balance: str) -> int:
    """Choice of index ``index`` among ``k``: ``balanced`` (block schedule) or ``random``
    (a uniform draw from ``rng``).

    >>> choose(0, 3, 4, np.random.default_rng(0), "random") in range(4)
    True
    """
    if balance == "balanced":
        return balanced_choice(seed, index, k)
    if balance == "random":
        return int(rng.integers(k))
    raise ValueError(f"unknown balance {balance!r}; expected 'balanced' or 'random'")
