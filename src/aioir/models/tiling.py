"""Tiled inference for images too large to restore in one pass, in bounded memory.

A :class:`TilePlan` covers an ``H x W`` image with windows of ``tile_h x tile_w`` whose starts
are spaced ``tile - overlap`` apart (the last window is shifted back to end at the border, so
every window is full size and no padding is invented). :func:`even_tile` picks, for a number of
windows along a side, the smallest window that covers it with the overlap, so no window is wider
than needed. Each window is restored independently, ``plan.batch`` windows of a row per call;
in the overlaps the outputs are blended with separable weights that are 0 on the outer
``overlap // 4`` pixels of a window's inner edges (where the window border corrupts a
convolution), then ramp linearly to 1 across the rest of the overlap. Seams are therefore
smooth, and a model whose receptive radius is at most ``overlap // 4`` gives exactly the
single-pass result. Models with global context (attention, squeeze-excitation, global pooling)
see only their window: tiling is then an approximation whose quality grows with the tile size.

Memory: :func:`blend_rows` keeps one row of windows in a float32 accumulator
``(C, tile_h, W)`` (plus the overlap carried to the next row) and yields finished rows as soon as
no later window touches them, so the whole float result is never held; the blending weights sum
to a separable map (the windows form a full grid), kept as two vectors. A plan with one window
is the plain forward, bit for bit.

>>> import torch
>>> x = torch.rand(1, 3, 50, 70)
>>> y = tiled_forward(lambda t: t * 2, x, tile=32, overlap=8)
>>> bool(torch.allclose(y, x * 2))
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

#: a window reader: ``(y0, y1, x0, x1) -> (C, y1 - y0, x1 - x0)`` float32 tensor
WindowReader = Callable[[int, int, int, int], torch.Tensor]


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Window starts covering ``[0, size)`` with windows of ``tile`` and at least ``overlap``.

    >>> tile_starts(100, 40, 10)
    [0, 30, 60]
    >>> tile_starts(30, 40, 10)
    [0]
    """
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than overlap ({overlap})")
    if size <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def even_tile(size: int, windows: int, overlap: int) -> int:
    """The smallest window that covers ``size`` with ``windows`` windows overlapping by ``overlap``.

    >>> even_tile(4000, 3, 32), tile_starts(4000, even_tile(4000, 3, 32), 32)
    (1355, [0, 1323, 2645])
    """
    if windows <= 1:
        return size
    return min(size, math.ceil((size + (windows - 1) * overlap) / windows))


@dataclass(frozen=True)
class TilePlan:
    """How an ``height x width`` image is cut into windows.

    >>> p = TilePlan(100, 60, tile_h=40, tile_w=60, overlap=10)
    >>> p.rows, p.cols, p.windows, p.whole
    ([0, 30, 60], [0], 3, False)
    """

    height: int
    width: int
    tile_h: int
    tile_w: int
    overlap: int = 32
    batch: int = 1

    def __post_init__(self) -> None:
        for name in ("height", "width", "tile_h", "tile_w", "batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {self.overlap}")
        # windows never exceed the image
        object.__setattr__(self, "tile_h", min(self.tile_h, self.height))
        object.__setattr__(self, "tile_w", min(self.tile_w, self.width))

    @classmethod
    def single(cls, height: int, width: int) -> TilePlan:
        """One window: the plain forward."""
        return cls(height, width, tile_h=height, tile_w=width, overlap=0)

    @classmethod
    def square(cls, height: int, width: int, tile: int, overlap: int = 32,
               batch: int = 1) -> TilePlan:
        """Windows of at most ``tile x tile`` (``--tile N``)."""
        return cls(height, width, tile_h=tile, tile_w=tile, overlap=overlap, batch=batch)

    def _starts(self, size: int, tile: int) -> list[int]:
        if size <= tile:
            return [0]
        return tile_starts(size, tile, self.overlap)

    @property
    def rows(self) -> list[int]:
        """Window starts along the height."""
        return self._starts(self.height, self.tile_h)

    @property
    def cols(self) -> list[int]:
        """Window starts along the width."""
        return self._starts(self.width, self.tile_w)

    @property
    def windows(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def whole(self) -> bool:
        """True when one window covers the image (no tiling)."""
        return self.windows == 1

    @property
    def processed_pixels(self) -> int:
        """Pixels run through the network (the image's plus the overlaps')."""
        return self.windows * self.tile_h * self.tile_w


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """Blend weights along one axis of a window (1 inside, ramping at inner edges)."""
    w = torch.ones(length)
    if overlap <= 0:
        return w
    margin = overlap // 4
    i = torch.arange(overlap, dtype=torch.float32)
    ramp = ((i - margin + 1) / (overlap - 2 * margin + 1)).clamp(0.0, 1.0)
    n = min(overlap, length)
    if not at_start:
        w[:n] = torch.minimum(w[:n], ramp[:n])
    if not at_end:
        w[-n:] = torch.minimum(w[-n:], ramp[:n].flip(0))
    return w


def _axis_weights(
    size: int, tile: int, starts: list[int], overlap: int
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per-window weights along one axis and their sum over the windows (the normaliser)."""
    weights = [_ramp(tile, overlap, s == 0, s + tile == size) for s in starts]
    total = torch.zeros(size)
    for s, w in zip(starts, weights):
        total[s : s + tile] += w
    return weights, total


@torch.no_grad()
def blend_rows(
    fn: Callable[[torch.Tensor], torch.Tensor],
    read: WindowReader,
    plan: TilePlan,
    *,
    device: torch.device | str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Run ``fn`` over ``plan``'s windows and yield ``(first_row, rows)`` of the blended result.

    ``read(y0, y1, x0, x1)`` returns one input window ``(C, h, w)``; ``fn`` maps a batch
    ``(B, C, h, w)`` on ``device`` to ``(B, C_out, h, w)``. The yielded blocks
    ``(C_out, n, W)`` (float32, CPU) are consecutive and cover every row once, top to bottom;
    each is a view into the accumulator, to be used (or copied) before the next is asked for.
    ``progress(n)`` is called after each batch with the number of windows it restored.
    """
    th, tw = plan.tile_h, plan.tile_w
    rows, cols = plan.rows, plan.cols
    wy, ny = _axis_weights(plan.height, th, rows, plan.overlap)
    wx, nx = _axis_weights(plan.width, tw, cols, plan.overlap)
    acc: torch.Tensor | None = None  # rows [rows[r], rows[r] + th) of the blended sum
    for r, y0 in enumerate(rows):
        for i in range(0, len(cols), plan.batch):
            chunk = cols[i : i + plan.batch]
            inp = torch.stack([read(y0, y0 + th, x0, x0 + tw) for x0 in chunk]).to(device)
            res = fn(inp).float().cpu()
            del inp
            if acc is None:
                acc = torch.zeros(res.shape[1], th, plan.width)
            for j, x0 in enumerate(chunk):
                weight = wy[r][:, None] * wx[i + j][None, :]
                acc[:, :, x0 : x0 + tw] += res[j] * weight
            del res
            if progress is not None:
                progress(len(chunk))
        assert acc is not None
        end = rows[r + 1] if r + 1 < len(rows) else plan.height
        done = end - y0
        block = acc[:, :done]
        block /= ny[y0:end, None] * nx[None, :]
        yield y0, block  # a view into the accumulator: valid until the next step
        carry = acc[:, done:].clone()  # the overlap with the next row of windows
        acc.zero_()
        acc[:, : carry.shape[1]] = carry


@torch.no_grad()
def tiled_forward(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    overlap: int = 32,
    batch: int = 4,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Apply ``fn`` (B,C,h,w -> B,C',h,w) to ``x`` (1,C,H,W) tile by tile and blend the results.

    ``batch`` windows of a row are restored per call to ``fn`` (throughput vs memory);
    ``progress(n)`` is told of each batch of ``n`` windows restored (out of
    ``TilePlan.square(H, W, tile, overlap).windows``).
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"tiled_forward expects a (1, C, H, W) tensor, got {tuple(x.shape)}")
    _, _, h, w = x.shape
    if tile <= overlap and (h > tile or w > tile):
        raise ValueError(f"tile ({tile}) must be larger than overlap ({overlap})")
    plan = TilePlan.square(h, w, tile, overlap, batch)
    read = lambda y0, y1, x0, x1: x[0, :, y0:y1, x0:x1]
    blocks = [b.clone() for _, b in blend_rows(fn, read, plan, device=x.device,
                                                progress=progress)]
    return torch.cat(blocks, dim=1)[None].to(x)
