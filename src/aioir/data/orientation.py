"""EXIF orientation applied to pixel arrays: shared by the Pillow reader (:mod:`aioir.data.io`)
and the TIFF reader (:mod:`aioir.data.tiff`), which must not import each other."""

from __future__ import annotations

import numpy as np

__all__ = ["orient_array"]


def orient_array(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation ``1..8`` to an ``H x W x C`` array (as a viewer displays it).

    >>> a = np.arange(6).reshape(2, 3, 1)
    >>> orient_array(a, 6)[..., 0]   # stored image rotated 90 degrees clockwise
    array([[3, 0],
           [4, 1],
           [5, 2]])
    """
    ops = {
        1: lambda x: x,
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: x.transpose(1, 0, 2),
        6: lambda x: np.rot90(x, -1),
        7: lambda x: x.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda x: np.rot90(x, 1),
    }
    return np.ascontiguousarray(ops.get(int(orientation), ops[1])(a))
