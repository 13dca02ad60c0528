"""Array-level patch operations shared by the datasets: pad, crop, dihedral augmentation,
8-bit quantisation and multi-view crops. All act on numpy ``H x W x C`` arrays and draw
randomness only from the generator they are given.

>>> import numpy as np
>>> img = np.arange(2 * 3, dtype=np.float32).reshape(2, 3, 1)
>>> pad_to_min(img, 4, 3)[..., 0]   # reflect padding at the bottom
array([[0., 1., 2.],
       [3., 4., 5.],
       [0., 1., 2.],
       [3., 4., 5.]], dtype=float32)
>>> dihedral(img, 1)[..., 0]        # rotated 90 degrees counter-clockwise
array([[2., 5.],
       [1., 4.],
       [0., 3.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PatchSize = int | tuple[int, int] | None


def as_hw(size: int | Sequence[int]) -> tuple[int, int]:
    """``(h, w)`` from an int or a pair.

    >>> as_hw(64), as_hw((32, 48))
    ((64, 64), (32, 48))
    """
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise ValueError(f"patch size must be positive, got {size}")
    return h, w


def pad_to_min(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reflect-pad ``img`` at the bottom/right so it is at least ``height x width``.

    Reflection is repeated when the pad exceeds the image (numpy's ``reflect``); a side of one
    pixel is repeated (``edge``).
    """
    ph, pw = max(0, height - img.shape[0]), max(0, width - img.shape[1])
    if ph == 0 and pw == 0:
        return img
    if min(img.shape[0], img.shape[1]) > 1:
        return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="reflect")
    return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge")


def random_crop(
    arrays: Sequence[np.ndarray], size: int | Sequence[int], rng: np.random.Generator
) -> list[np.ndarray]:
    """The same random ``size`` window of every array (all of equal height and width), each
    reflect-padded first when smaller than the window.

    >>> a = np.zeros((5, 6, 3)); b = np.ones((5, 6, 3))
    >>> [x.shape for x in random_crop([a, b], 4, np.random.default_rng(0))]
    [(4, 4, 3), (4, 4, 3)]
    """
    h, w = as_hw(size)
    arrays = [pad_to_min(a, h, w) for a in arrays]
    big_h, big_w = arrays[0].shape[:2]
    if any(a.shape[:2] != (big_h, big_w) for a in arrays):
        raise ValueError(f"arrays to crop together differ in size: {[a.shape for a in arrays]}")
    y = int(rng.integers(0, big_h - h + 1))
    x = int(rng.integers(0, big_w - w + 1))
    return [a[y : y + h, x : x + w] for a in arrays]


def center_crop(img: np.ndarray, max_size: int | None = None, multiple: int = 1) -> np.ndarray:
    """Centre crop to at most ``max_size`` per side, each side floored to a multiple of
    ``multiple``.

    >>> center_crop(np.zeros((21, 50, 3)), max_size=32, multiple=8).shape
    (16, 32, 3)
    """
    h, w = img.shape[:2]
    th, tw = (h, w) if max_size is None else (min(h, max_size), min(w, max_size))
    th, tw = th - th % multiple, tw - tw % multiple
    if th < 1 or tw < 1:
        raise ValueError(f"image {h}x{w} is smaller than the multiple {multiple}")
    y, x = (h - th) // 2, (w - tw) // 2
    return img[y : y + th, x : x + tw]


def dihedral(img: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations: ``k % 4`` quarter turns counter-clockwise, then a
    left-right flip when ``k >= 4``."""
    out = np.rot90(img, k % 4, axes=(0, 1))
    if k >= 4:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def quantize8(img: np.ndarray) -> np.ndarray:
    """Clip to ``[0, 1]`` and round to the 256 levels of an 8-bit file.

    >>> quantize8(np.array([0.1, 1.2, -0.3]))
    array([0.10196079, 1.        , 0.        ], dtype=float32)
    """
    return (np.round(np.clip(img, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def random_views(
    img: np.ndarray, views: int, size: int | Sequence[int], rng: np.random.Generator
) -> np.ndarray:
    """``views`` independent random crops of ``img`` stacked as ``(V, h, w, C)``.

    >>> random_views(np.zeros((8, 8, 3)), 2, 4, np.random.default_rng(0)).shape
    (2, 4, 4, 3)
    """
    return np.stack([random_crop([img], size, rng)[0] for _ in range(views)])
