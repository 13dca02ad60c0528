"""Size-invariant statistics of a degraded image, the input of a degradation classifier.

A classifier that routes an image to the head of its degradation must give the same answer on a
64 px training patch and on a whole photograph, and it must look at the degradation rather than
at what the photograph shows. A small CNN trained for a few hundred steps on a handful of
photographs does neither (on the demo it learns which training photograph a patch came from).
:func:`degradation_stats` instead measures, per image, quantities that each degradation moves
and that do not grow with the image's size (means, medians, quantiles and ratios of them, never a
maximum over pixels):

==  ==========================================================================================
#   statistic (``g``: the channel mean of ``x``; ``dx``, ``dy``: its horizontal and vertical
    differences; ``lap``: its 4-neighbour Laplacian ``4 g - sum of the 4 neighbours``)
==  ==========================================================================================
0   5 % quantile of ``g``                      (haze lifts it)
1   median of ``g``                            (low light lowers it)
2   95 % quantile of ``g``
3   ``log(q95 - q05)``                          contrast (haze, low light lower it)
4   ``log(mean g + 0.02)``                      brightness on a log scale (low light)
5   ``log std g``
6   mean over pixels of the channel minimum    (the "dark channel": haze lifts it)
7   ``log mean |dx|``
8   ``log mean |dy|``                           rain streaks are near vertical: dx != dy
9   ``log mean |lap|``                          fine detail (blur, SR lower it; noise raises it)
10  ``log median |lap|``                        the noise floor (noise raises it everywhere)
11  ``log(mean |lap| / (mean |dx| + mean |dy|))``  sharpness: detail per edge (blur, SR)
12  ``log(max_p m_p / mean_p m_p)``, period 8, along x   block edges (JPEG's 8 x 8 grid)
13  ``log(min_p m_p / mean_p m_p)``, period 8, along x
14  the same two along y
16  ``log(max_p c_p / mean_p c_p)``, ``log(min_p c_p / mean_p c_p)`` along x, then along y,
    with ``c_p`` the *mean* of ``|second difference|`` (``g[j+1] - 2 g[j] + g[j-1]``) over
    the positions ``p`` modulo 4: x4 bicubic upscaling's phase pattern (period 4)
20  skewness of ``lap``, clamped to [-5, 5] / 5 (bright streaks: rain)
==  ==========================================================================================

No saturation (channel max - min): the embedded training photographs include grey ones (camera,
coins, moon), so there it tells which photograph a patch came from rather than its degradation
(leaving it out raised the demo's held-out accuracy from 0.76 to 0.86 on its crops and 0.81 to
0.86 on whole photos, 0.77 either way on its 231 tiles).

**The JPEG lattice** (:func:`jpeg_lattice`, a statistic of its own, not one of the 21: a
classifier uses it as a test, see :mod:`aioir.models.aware_unet`'s ``lattice_class``). The
block-edge ratios (12-15) measure what JPEG does to the content's gradients, so they move with
the content too; on photographs nobody tuned the demo on, JPEG at quality 30-70 was routed to
the noise, rain or low-light heads (docs/benchmarks.md, issue 27). A decoded JPEG keeps a trace
no other degradation leaves: each DCT coefficient of each 8 x 8 block is an integer multiple of
its quantiser step (up to the decoder's rounding), the steps being the IJG tables scaled by the
quality (what Pillow and libjpeg write). For each quality in ``JPEG_QUALITIES`` the statistic
averages ``cos(2 pi c / T)`` over the AC coefficients ``c`` of the luma ``Y = 255 (0.299 R +
0.587 G + 0.114 B)`` with ``|c| >= T / 2`` (``T`` the coefficient's step at that quality; the
zeros are left out, they sit on every lattice), and takes the largest over the qualities: 1 on
the lattice, about 0 off it (rounding noise of a decoded JPEG moves a coefficient by about 0.35,
little against steps of 6 and more). Measured on the demo's training photographs: JPEG at
quality 30, 50, 70: 0.84-1.00 on whole photographs, 0.8 or more on 95 % of 64 px patches cut on
the 8-px grid; undegraded photographs at most 0.14 (patches 0.21); quality 90 (out of range) at
most 0.13. The grid is the image's own, from its top-left corner, as when a photograph is
compressed whole (the demo's test images, ``aioir degrade``): an image cropped after compression
off the 8-px grid, or rotated by 90 degrees (the table is not symmetric), reads about 0.

``m_p`` is the *median* of ``|dx|`` over the columns ``j`` with ``j mod period == p`` (rows for
``dy``): a median, not a mean, so that a few strong edges of the content do not make one phase
stand out in a small patch (with means, clean 64 px patches score as blocky as JPEG ones).
Upscaling's pattern lives in the curvature, which is small and quantised to 1/765 steps, where
medians are mostly zero: there the means separate x4 upscaling from Gaussian blur (on the demo's
training patches the max ratio is 0.25 +/- 0.09 for SR against 0.05 +/- 0.04 for blur). Every
``log`` has ``1e-4`` added inside. The 5/50/95 % quantiles are taken over at most about 4096
pixels (every ``n``-th pixel in raster order), so whole photographs cost little.

>>> import torch
>>> x = torch.rand(2, 3, 40, 48)
>>> degradation_stats(x).shape
torch.Size([2, 21])
>>> bool(torch.isfinite(degradation_stats(torch.zeros(1, 3, 16, 16))).all())  # flat black
True

A classifier fitted on ``t``-px training patches sees a whole photograph through
:func:`tiled_stats`: the mean of the statistics of its ``t x t`` tiles, so that a quantile, a
contrast or a gradient level is measured at the scale it was fitted at (over a whole photograph
the 5-95 % range spans more content than over a patch, and looks less hazy or dark).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aioir.models.padding import _larger

#: number of statistics :func:`degradation_stats` returns per image
NUM_STATS = 21
#: smaller images are extended to this side first
MIN_SIDE = 9
EPS = 1e-4
QUANTILE_SAMPLES = 4096
#: the JPEG qualities :func:`jpeg_lattice` looks for: the demo's JPEG range (30-70) and 5 either side
JPEG_QUALITIES = range(25, 76)
#: at most this many 8 x 8 blocks are read by :func:`jpeg_lattice` (every ``n``-th one)
LATTICE_BLOCKS = 2048
#: the IJG (libjpeg) luminance quantisation table at quality 50, rows = vertical frequency
IJG_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61), (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56), (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77), (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101), (72, 92, 95, 98, 112, 100, 103, 99),
)


def ijg_table(quality: int) -> torch.Tensor:
    """The ``8 x 8`` luminance quantiser steps libjpeg uses at ``quality`` (1-100):
    ``floor((T50 * s + 50) / 100)`` clamped to 1..255, ``s = 5000 / q`` below 50, else
    ``200 - 2 q`` (``jpeg_set_quality`` with baseline tables).

    >>> ijg_table(50)[0, :3].tolist(), ijg_table(90)[0, :3].tolist()
    ([16.0, 11.0, 10.0], [3.0, 2.0, 2.0])
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"ijg_table: quality must be 1-100, got {quality}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    steps = (torch.tensor(IJG_LUMA, dtype=torch.int64) * scale + 50) // 100
    return steps.clamp(1, 255).float()


def dct_matrix(n: int = 8) -> torch.Tensor:
    """The orthonormal DCT-II matrix ``D`` (``D @ b @ D.T`` is the 2-D DCT of block ``b``),
    float64.

    >>> d = dct_matrix()
    >>> bool(torch.allclose(d @ d.T, torch.eye(8, dtype=torch.float64)))
    True
    """
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(torch.pi * (2 * i + 1) * k / (2 * n)) * (2 / n) ** 0.5
    d[0] = d[0] / 2 ** 0.5
    return d


_STEPS = torch.stack([ijg_table(q) for q in JPEG_QUALITIES])
_DCT = dct_matrix()
_AC = torch.ones(8, 8, dtype=torch.bool)
_AC[0, 0] = False


def jpeg_lattice(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` in ``[0, 1]`` -> ``(B, 1)``: the JPEG lattice statistic (the module
    docstring): the largest over ``JPEG_QUALITIES`` of the mean ``cos(2 pi c / T)`` over the
    AC coefficients with ``|c| >= T / 2``, the sum divided by their count plus one (a block of
    zeros says nothing). Luma for three channels, the channel mean otherwise; 8 x 8 blocks from
    the top-left corner (at most ``LATTICE_BLOCKS`` of them, evenly spaced); an image under
    8 px on a side gives 0.

    >>> import io, numpy as np
    >>> from PIL import Image
    >>> rng = np.random.default_rng(0)
    >>> img = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    >>> buf = io.BytesIO(); Image.fromarray(img).save(buf, format="JPEG", quality=50)
    >>> dec = np.asarray(Image.open(buf).convert("RGB"))
    >>> as_x = lambda a: torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 255
    >>> round(float(jpeg_lattice(as_x(dec))), 1), round(float(jpeg_lattice(as_x(img))), 1)
    (1.0, 0.0)
    """
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2] if x.shape[1] == 3 else x.mean(1)
    y = luma * 255
    b = y.shape[0]
    if not torch.jit.is_tracing() and (y.shape[1] < 8 or y.shape[2] < 8):
        return y.new_zeros(b, 1)
    y = _whole_periods(_whole_periods(y, 8, 1, "jpeg_lattice"), 8, 2, "jpeg_lattice")
    blocks = (y.reshape(b, y.shape[1] // 8, 8, y.shape[2] // 8, 8).permute(0, 1, 3, 2, 4)
              .reshape(b, -1, 8, 8))
    n = blocks.shape[1]
    step = _larger(n // LATTICE_BLOCKS, 1)
    blocks = blocks.index_select(1, torch.arange(0, n, step, device=x.device))
    d = _DCT.to(x.device, x.dtype)
    c = d @ blocks @ d.T
    ac = _AC.to(x.device)
    scores = []
    for steps in _STEPS.to(x.device, x.dtype):
        on = (c.abs() >= steps / 2) & ac
        cos = torch.cos((2 * torch.pi) * c / steps)
        scores.append((cos * on).sum((1, 2, 3)) / (on.sum((1, 2, 3)) + 1))
    return torch.stack(scores, 1).max(1, keepdim=True).values


def phase_medians(a: torch.Tensor, period: int, dim: int) -> torch.Tensor:
    """``(B, H, W)`` -> ``(B, period)``: the median of ``a`` over the columns (``dim=2``) or
    rows (``dim=1``) whose index is ``p`` modulo ``period``, for ``p = 0 .. period-1`` (the
    trailing incomplete period is left out).

    >>> a = torch.tensor([[[1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 7.0]]])
    >>> phase_medians(a, 3, 2).tolist()
    [[5.5, 11.0, 16.5]]
    """
    a = _whole_periods(a, period, dim, "phase_medians")
    if dim == 2:
        a = a.reshape(a.shape[0], a.shape[1], -1, period).permute(0, 3, 1, 2)
    else:
        a = a.reshape(a.shape[0], -1, period, a.shape[2]).permute(0, 2, 1, 3)
    return median(a.flatten(2))


def _whole_periods(a: torch.Tensor, period: int, dim: int, caller: str) -> torch.Tensor:
    """``a`` (``B, H, W``) cut along ``dim`` (1 or 2) to whole periods (a slice, so a traced
    graph cuts any size as the eager code does)."""
    k = a.shape[dim] // period
    if not torch.jit.is_tracing() and k == 0:
        raise ValueError(f"{caller}: the image is smaller than the period {period}")
    return a[:, :, :k * period] if dim == 2 else a[:, :k * period]


def median(a: torch.Tensor) -> torch.Tensor:
    """The median over the last dimension, the mean of the two middle values for an even count
    (``torch.median`` returns the lower one).

    >>> median(torch.tensor([[4.0, 1.0, 3.0, 2.0]])).tolist()
    [2.5]
    """
    n = a.shape[-1]
    middle = torch.stack([torch.as_tensor((n - 1) // 2), torch.as_tensor(n // 2)])
    return a.sort(-1).values.index_select(-1, middle.to(a.device)).mean(-1)


def quantiles(a: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``torch.quantile(a, q, dim=-1)`` with linear interpolation, as ``(..., len(q))``, from
    ops that TorchScript and ONNX export with a dynamic length (``torch.quantile`` has no ONNX
    form): the same algorithm as PyTorch's (sort; ``r = q (n - 1)``; ``lerp`` between the values
    at ``floor r`` and ``ceil r`` by ``r - floor r``), so the same values bit for bit on inputs
    without NaN.

    >>> a = torch.tensor([[4.0, 1.0, 3.0, 2.0, 10.0]])
    >>> quantiles(a, torch.tensor([0.05, 0.5, 0.95])).tolist()
    [[1.2000000476837158, 3.0, 8.799999237060547]]
    """
    sorted_a = a.sort(-1).values
    ranks = q * (sorted_a.shape[-1] - 1)
    below = ranks.long()
    lo = sorted_a.index_select(-1, below)
    hi = sorted_a.index_select(-1, ranks.ceil().long())
    return torch.lerp(lo, hi, (ranks - below).expand_as(lo))


def phase_means(a: torch.Tensor, period: int, dim: int) -> torch.Tensor:
    """As :func:`phase_medians` with means.

    >>> a = torch.tensor([[[1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 7.0]]])
    >>> phase_means(a, 3, 2).tolist()
    [[5.5, 11.0, 16.5]]
    """
    a = _whole_periods(a, period, dim, "phase_means")
    if dim == 2:
        return a.reshape(a.shape[0], a.shape[1], -1, period).mean((1, 2))
    return a.reshape(a.shape[0], -1, period, a.shape[2]).mean((1, 3))


def _phase_ratios(a: torch.Tensor, period: int, dim: int, how=None) -> list[torch.Tensor]:
    p = (how or phase_medians)(a, period, dim) + EPS
    m = p.mean(1, keepdim=True)
    return [(p.max(1, keepdim=True).values / m).log(), (p.min(1, keepdim=True).values / m).log()]


def degradation_stats(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` images in ``[0, 1]`` -> ``(B, NUM_STATS)`` statistics (the table in
    the module docstring). An image under ``MIN_SIDE`` px on a side is first extended to it by
    repeating its last row/column (the phase statistics need a whole period of 8)."""
    if x.dim() != 4 or x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"degradation_stats: expected (B, C, H, W) images, got {tuple(x.shape)}")
    if torch.jit.is_tracing():  # sizes are traced values: record the padding (0 or more)
        x = F.pad(x, (0, _larger(MIN_SIDE - x.shape[3], 0), 0, _larger(MIN_SIDE - x.shape[2], 0)),
                  mode="replicate")
    elif x.shape[2] < MIN_SIDE or x.shape[3] < MIN_SIDE:
        x = F.pad(x, (0, max(0, MIN_SIDE - x.shape[3]), 0, max(0, MIN_SIDE - x.shape[2])),
                  mode="replicate")
    g = x.mean(1)
    flat = g.flatten(1)
    # every step-th pixel, step = max(1, n // QUANTILE_SAMPLES), as traceable index ops
    n = flat.shape[1]
    step = _larger(n // QUANTILE_SAMPLES, 1)
    picked = flat.index_select(1, torch.arange(0, n, step, device=x.device))
    q = quantiles(picked, torch.tensor([0.05, 0.5, 0.95], dtype=x.dtype, device=x.device))
    ax = (g[:, :, 1:] - g[:, :, :-1]).abs()
    ay = (g[:, 1:, :] - g[:, :-1, :]).abs()
    lap = (4 * g[:, 1:-1, 1:-1] - g[:, :-2, 1:-1] - g[:, 2:, 1:-1] - g[:, 1:-1, :-2]
           - g[:, 1:-1, 2:])
    al = lap.abs()
    mn = x.min(1).values
    mean_ax, mean_ay, mean_al = ax.mean((1, 2)), ay.mean((1, 2)), al.mean((1, 2))
    feats = [
        q,
        (q[:, 2:] - q[:, :1]).add(EPS).log(),
        g.mean((1, 2))[:, None].add(0.02).log(),
        g.std((1, 2))[:, None].add(EPS).log(),
        mn.mean((1, 2))[:, None],
        mean_ax[:, None].add(EPS).log(),
        mean_ay[:, None].add(EPS).log(),
        mean_al[:, None].add(EPS).log(),
        median(al.flatten(1))[:, None].add(EPS).log(),
        (mean_al / (mean_ax + mean_ay + EPS))[:, None].add(EPS).log(),
    ]
    feats += _phase_ratios(ax, 8, 2) + _phase_ratios(ay, 8, 1)
    cx = (g[:, :, 2:] - 2 * g[:, :, 1:-1] + g[:, :, :-2]).abs()
    cy = (g[:, 2:, :] - 2 * g[:, 1:-1, :] + g[:, :-2, :]).abs()
    feats += _phase_ratios(cx, 4, 2, phase_means) + _phase_ratios(cy, 4, 1, phase_means)
    hp = lap.flatten(1)
    centred = hp - hp.mean(1, keepdim=True)
    sd = hp.std(1, keepdim=True) + EPS
    feats.append(((centred ** 3).mean(1, keepdim=True) / sd ** 3).clamp(-5, 5) / 5)
    return torch.cat(feats, 1)


def tiled_stats(x: torch.Tensor, tile: int) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, NUM_STATS)``: the mean of :func:`degradation_stats` over the
    non-overlapping ``tile x tile`` tiles of each image, from its top-left corner (a remainder
    under a tile is left out; an image under ``tile`` on a side is first extended to it by
    repeating its last row/column). A ``tile``-px image gives its own statistics.

    >>> x = torch.rand(1, 3, 64, 64)
    >>> bool(torch.equal(tiled_stats(x, 64), degradation_stats(x)))
    True
    >>> top = x[:, :, :32]                                     # 32 x 64: two 32-px tiles
    >>> halves = torch.cat([degradation_stats(top[..., :32]), degradation_stats(top[..., 32:])])
    >>> bool(torch.allclose(tiled_stats(top, 32), halves.mean(0, keepdim=True)))
    True
    """
    if x.dim() != 4:
        raise ValueError(f"tiled_stats: expected (B, C, H, W) images, got {tuple(x.shape)}")
    if tile < MIN_SIDE:
        raise ValueError(f"tiled_stats: tile must be >= {MIN_SIDE}, got {tile}")
    b, c = x.shape[0], x.shape[1]
    if torch.jit.is_tracing():
        x = F.pad(x, (0, _larger(tile - x.shape[3], 0), 0, _larger(tile - x.shape[2], 0)),
                  mode="replicate")
    elif x.shape[2] < tile or x.shape[3] < tile:
        x = F.pad(x, (0, max(0, tile - x.shape[3]), 0, max(0, tile - x.shape[2])),
                  mode="replicate")
    nh, nw = x.shape[2] // tile, x.shape[3] // tile
    tiles = (x[:, :, :nh * tile, :nw * tile].reshape(b, c, nh, tile, nw, tile)
             .permute(0, 2, 4, 1, 3, 5).reshape(-1, c, tile, tile))
    return degradation_stats(tiles).reshape(b, -1, NUM_STATS).mean(1)
