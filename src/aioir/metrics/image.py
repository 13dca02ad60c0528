"""Turning image pairs into what a metric protocol compares.

Accepted inputs: float RGB (or grey) images in [0, 1] as numpy ``HWC`` / ``HW`` arrays or torch
``CHW`` / ``BCHW`` tensors. :func:`prepare_pair` validates a pair and applies, in order:
clipping to [0, 1]; optional uint8 rounding (``round(x * 255)``, compared on the 0..255 scale);
optional BT.601 luma (MATLAB ``rgb2ycbcr``'s Y); the border crop. Everything is float64 BCHW.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["to_bchw", "bt601_y", "prepare_pair", "ImageLike"]

ImageLike = Any  # numpy HWC/HW array or torch CHW/BCHW tensor

#: BT.601 luma weights for R, G, B in [0, 1] giving Y on the 0..255 scale (MATLAB rgb2ycbcr).
Y_OFFSET = 16.0
Y_WEIGHTS = (65.481, 128.553, 24.966)


def to_bchw(x: ImageLike, name: str = "image") -> torch.Tensor:
    """A float64 ``(B, C, H, W)`` tensor (detached, same device) from numpy HWC/HW or torch CHW/BCHW.

    >>> to_bchw(np.zeros((4, 5, 3))).shape
    torch.Size([1, 3, 4, 5])
    >>> to_bchw(torch.zeros(3, 4, 5)).shape, to_bchw(np.zeros((4, 5))).shape
    (torch.Size([1, 3, 4, 5]), torch.Size([1, 1, 4, 5]))
    """
    if isinstance(x, torch.Tensor):
        t = x.detach()
        if t.ndim == 3:
            t = t.unsqueeze(0)
        elif t.ndim != 4:
            raise ValueError(f"{name}: a torch image must be CHW or BCHW, got shape {tuple(t.shape)}")
    elif isinstance(x, np.ndarray):
        if x.ndim == 2:
            x = x[:, :, None]
        if x.ndim != 3:
            raise ValueError(f"{name}: a numpy image must be HWC or HW, got shape {x.shape}")
        t = torch.from_numpy(np.array(x)).permute(2, 0, 1).unsqueeze(0)  # a copy: inputs may be read-only
    else:
        raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"{name}: expected a real-valued image, got dtype {t.dtype}")
    if t.shape[1] not in (1, 3):
        raise ValueError(f"{name}: expected 1 or 3 channels, got shape {tuple(t.shape)}")
    return t.to(torch.float64)


def bt601_y(rgb: torch.Tensor) -> torch.Tensor:
    """Y of ITU-R BT.601 on the 0..255 scale from RGB in [0, 1]: ``16 + 65.481 R + 128.553 G + 24.966 B``.

    ``rgb`` is ``(B, 3, H, W)``; returns ``(B, 1, H, W)``. White maps to 235, black to 16.

    >>> bt601_y(torch.ones(1, 3, 1, 1, dtype=torch.float64)).item()
    235.0
    """
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    wr, wg, wb = Y_WEIGHTS
    return Y_OFFSET + wr * r + wg * g + wb * b


def prepare_pair(
    a: ImageLike,
    b: ImageLike,
    *,
    crop_border: int = 0,
    y_channel: bool = False,
    round_uint8: bool = True,
    batched: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Validate a pair and return ``(x, y, data_range)`` as float64 BCHW ready to compare.

    With ``round_uint8`` the values are ``round(clip(v, 0, 1) * 255)`` and ``data_range`` is 255;
    without, they stay on the [0, 1] scale (clipped) and ``data_range`` is 1. With ``y_channel``
    the Y of BT.601 is computed from those (rounded) RGB values and is not rounded again, as in
    BasicSR; it is divided by 255 when not rounding. ``batched=False`` requires a single image.

    >>> x, y, r = prepare_pair(np.full((8, 8, 3), 0.5), np.zeros((8, 8, 3)), crop_border=2)
    >>> x.shape, x.max().item(), r
    (torch.Size([1, 3, 4, 4]), 128.0, 255.0)
    """
    x, y = to_bchw(a, "first image"), to_bchw(b, "second image")
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    if not batched and x.shape[0] != 1:
        raise ValueError(f"expected a single image (batch of 1), got a batch of {x.shape[0]}")
    for t, which in ((x, "first"), (y, "second")):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"the {which} image has non-finite values (nan or inf)")
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
        raise ValueError(f"crop_border must be a non-negative int, got {crop_border!r}")
    h, w = x.shape[-2:]
    if 2 * crop_border >= min(h, w):
        raise ValueError(f"crop_border={crop_border} leaves nothing of a {h}x{w} image")
    x, y = x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)
    scale = 255.0
    if round_uint8:
        x, y = torch.round(x * 255.0), torch.round(y * 255.0)
        rgb_x, rgb_y = x / 255.0, y / 255.0
    else:
        rgb_x, rgb_y = x, y
        scale = 1.0
    if y_channel:
        if x.shape[1] != 3:
            raise ValueError("y_channel=True needs RGB images (3 channels)")
        x, y = bt601_y(rgb_x) * (scale / 255.0), bt601_y(rgb_y) * (scale / 255.0)
    if crop_border:
        c = crop_border
        x, y = x[..., c:-c, c:-c], y[..., c:-c, c:-c]
    return x, y, scale
