"""Image helpers of the report: the zoom window, one sample per task."""

from __future__ import annotations

import numpy as np

from aioir.report.images import one_per_task, zoom_window


def test_zoom_window_is_the_most_detailed_square_on_the_half_window_grid():
    rng = np.random.default_rng(3)
    img = rng.random((40, 56, 3)) * 0.05
    img[22:30, 35:44] += rng.random((8, 9, 3))  # a textured patch
    top, left, size = zoom_window(img, 12)
    gray = img.mean(axis=2)
    energy = np.zeros_like(gray)
    energy[:, 1:] += np.diff(gray, axis=1) ** 2
    energy[1:, :] += np.diff(gray, axis=0) ** 2
    best = max(
        (energy[t:t + 12, x0:x0 + 12].sum(), t, x0)
        for t in range(0, 40 - 12 + 1, 6) for x0 in range(0, 56 - 12 + 1, 6)
    )
    assert (top, left, size) == (best[1], best[2], 12)


def test_zoom_window_never_exceeds_the_image():
    assert zoom_window(np.zeros((6, 20, 3)), 16) == (0, 0, 6)


def test_one_per_task_follows_the_task_order_and_takes_the_images_in_turn():
    z = np.zeros((2, 2, 3))
    samples = [(z, z, t, f"{t}-{j}") for t in ("noise", "jpeg") for j in range(3)]
    picked = one_per_task(samples, ["dark", "jpeg", "noise"])  # dark: no sample
    assert [s[3] for s in picked] == ["jpeg-1", "noise-2"]  # task i shows image i mod 3
