"""Geometric self-ensemble: the 8 flips and rotations of the input, restored and averaged.

For each element ``g`` of the dihedral group of the square (identity, three rotations by 90
degrees, and the same four after a left-right flip), the network restores ``g(x)`` and ``g``'s
inverse brings the result back: ``y = 1/8 sum_g g^-1(f(g(x)))``. This is the "+" in results
such as EDSR+ and Restormer's self-ensemble tables; it costs 8 forwards. A network that is
itself equivariant to the 8 transforms gives back its plain output (up to rounding).

Transforms act on the last two axes of ``(B, C, H, W)`` batches; rotations swap ``H`` and ``W``,
which every backbone accepts.

>>> import torch
>>> x = torch.rand(1, 3, 5, 7)
>>> all(torch.equal(invert(k, flip, transform(k, flip, x)), x) for k, flip in DIHEDRAL)
True
>>> shift = lambda t: torch.roll(t, 1, dims=-1)    # not equivariant: moves content right
>>> y = flip_ensemble(shift)(x)
>>> expected = sum(torch.roll(x, s, dims=d) for s in (1, -1) for d in (-1, -2)) / 4
>>> bool(torch.allclose(y, expected))
True
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: a batch-to-batch function (a backbone, or a window function built on one)
Fn = Callable[[torch.Tensor], torch.Tensor]

#: the 8 transforms as (quarter turns counter-clockwise, left-right flip first)
DIHEDRAL: tuple[tuple[int, bool], ...] = tuple((k, f) for f in (False, True) for k in range(4))

#: ``--ensemble`` choices
ENSEMBLES = ("none", "flips")


def transform(k: int, flip: bool, x: torch.Tensor) -> torch.Tensor:
    """``g(x)``: flip left-right (if ``flip``), then ``k`` quarter turns counter-clockwise."""
    if flip:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k, dims=(-2, -1)) if k % 4 else x


def invert(k: int, flip: bool, y: torch.Tensor) -> torch.Tensor:
    """``g^-1(y)``: rotate back ``k`` quarter turns, then undo the flip."""
    if k % 4:
        y = torch.rot90(y, -k, dims=(-2, -1))
    return torch.flip(y, dims=(-1,)) if flip else y


def flip_ensemble(fn: Fn) -> Fn:
    """``fn`` averaged over the 8 dihedral transforms (one transform at a time: the memory of
    one forward plus the running sum)."""

    @torch.no_grad()
    def ensembled(x: torch.Tensor) -> torch.Tensor:
        total: torch.Tensor | None = None
        for k, flip in DIHEDRAL:
            y = invert(k, flip, fn(transform(k, flip, x))).float()
            total = y.clone() if total is None else total.add_(y)
        assert total is not None
        return total / len(DIHEDRAL)

    return ensembled


def ensemble_extra_bytes(channels: int, channels_out: int) -> int:
    """Bytes per pixel :func:`flip_ensemble` holds besides one forward of ``fn``: the flipped
    and rotated input (two float32 copies at most), the output brought back and the running sum.

    >>> ensemble_extra_bytes(3, 3)
    48
    """
    return 4 * (2 * channels + 2 * channels_out)


def with_ensemble(fn: Fn, name: str) -> Fn:
    """``fn`` itself for ``"none"``, :func:`flip_ensemble` of it for ``"flips"``."""
    if name == "none":
        return fn
    if name == "flips":
        return flip_ensemble(fn)
    raise ValueError(f"unknown ensemble {name!r}; choose one of {', '.join(ENSEMBLES)}")
