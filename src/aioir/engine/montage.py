"""Plain image montages (numpy only): the restorations TensorBoard shows while training.

>>> import numpy as np
>>> a, b = np.zeros((4, 6, 3)), np.ones((2, 3, 3))
>>> montage([[a, a], [b]], gap=1).shape
(7, 13, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["montage", "restoration_montage"]


def montage(rows: Sequence[Sequence[np.ndarray]], gap: int = 2, fill: float = 1.0) -> np.ndarray:
    """Tiles (HWC float in [0, 1]) laid out row by row, ``gap`` pixels of ``fill`` between
    them; each tile keeps its size (rows as tall as their tallest tile, the montage as wide as
    its widest row)."""
    if not rows or not all(rows):
        raise ValueError("a montage needs at least one tile in every row")
    heights = [max(t.shape[0] for t in row) for row in rows]
    widths = [sum(t.shape[1] for t in row) + gap * (len(row) - 1) for row in rows]
    out = np.full((sum(heights) + gap * (len(rows) - 1), max(widths), 3), fill, np.float32)
    top = 0
    for row, height in zip(rows, heights):
        left = 0
        for tile in row:
            h, w = tile.shape[:2]
            out[top:top + h, left:left + w] = np.clip(tile, 0.0, 1.0)
            left += w + gap
        top += height + gap
    return out


def restoration_montage(
    restore: Callable[[np.ndarray], np.ndarray],
    samples: Sequence[tuple[np.ndarray, np.ndarray, str, str]],
    tasks: Sequence[str],
    gap: int = 2,
    restore_for: Callable[[str], Callable[[np.ndarray], np.ndarray]] | None = None,
) -> np.ndarray:
    """One row per task (its first sample): degraded input | ``restore(input)`` | ground truth.

    ``restore_for(task)``: the restore function of a task's row, when it depends on the task
    (:func:`aioir.engine.evaluation.restore_for`); default ``restore`` for every row.

    >>> z = np.zeros((4, 4, 3), np.float32)
    >>> restoration_montage(lambda x: x, [(z, z, "noise", "a")], ["noise"], gap=0).shape
    (4, 12, 3)
    """
    firsts: dict[str, tuple] = {}
    for s in samples:
        firsts.setdefault(s[2], s)
    pick = restore_for or (lambda task: restore)
    rows = [[firsts[t][0], pick(t)(firsts[t][0]), firsts[t][1]] for t in tasks if t in firsts]
    return montage(rows, gap=gap)
