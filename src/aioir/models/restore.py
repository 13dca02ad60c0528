"""Restore one float image with a trained backbone: whole or with a fixed tile, numpy HWC.

What ``aioir eval``, validation during training and ``aioir report`` use. Files of any size
within a memory budget (``aioir restore``, ``aioir serve``) go through
:class:`aioir.inference.restore.Restorer`; both run windows through
:func:`aioir.models.tiling.blend_rows`.

>>> import numpy as np, torch
>>> from aioir import models
>>> net = models.build("tiny_unet", width=8)   # identity at initialisation
>>> img = np.random.default_rng(0).random((20, 30, 3), dtype=np.float32)
>>> out = restore_image(net, img)
>>> out.shape, bool(np.allclose(out, img, atol=1e-6))
((20, 30, 3), True)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn

from aioir.models.tiling import tiled_forward


@torch.no_grad()
def restore_tensor(
    model: nn.Module,
    x: torch.Tensor,
    *,
    tile: int | None = None,
    overlap: int = 32,
    clamp: bool = True,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Restore a (1,3,H,W) batch; ``tile`` enables tiled inference with ``overlap`` pixels
    (``progress(n)``: told of each batch of ``n`` windows restored)."""
    was_training = model.training
    model.eval()
    try:
        y = (tiled_forward(model, x, tile=tile, overlap=overlap, progress=progress) if tile
             else model(x))
    finally:
        model.train(was_training)
    return y.clamp(0.0, 1.0) if clamp else y


def restore_image(
    model: nn.Module,
    img: np.ndarray,
    *,
    device: torch.device | str | None = None,
    tile: int | None = None,
    overlap: int = 32,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Restore one float32 HWC RGB image in [0, 1]; returns the same layout, clipped to [0, 1]
    (``progress(n)``: told of each batch of ``n`` windows of a tiled restore)."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {img.shape}")
    if device is None:
        device = next(model.parameters()).device
    # a copy: inputs may be read-only
    x = torch.from_numpy(np.array(img, dtype=np.float32)).permute(2, 0, 1)[None]
    y = restore_tensor(model, x.to(device), tile=tile, overlap=overlap, progress=progress)
    return y[0].permute(1, 2, 0).float().cpu().numpy()
