"""Peak signal-to-noise ratio under the field's protocol options (see :mod:`.image`)."""

from __future__ import annotations

import torch

from .image import ImageLike, prepare_pair

__all__ = ["psnr", "psnr_batch"]


def _psnr_from_prepared(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    mse = ((x - y) ** 2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)  # mse == 0 -> +inf


@torch.no_grad()
def psnr_batch(
    pred: torch.Tensor,
    gt: torch.Tensor,
    *,
    crop_border: int = 0,
    y_channel: bool = False,
    round_uint8: bool = True,
) -> torch.Tensor:
    """Per-image PSNR (dB) of two ``(B, C, H, W)`` batches in [0, 1]; a float64 ``(B,)`` tensor.

    >>> gt = torch.zeros(2, 3, 4, 4)
    >>> out = psnr_batch(gt + torch.tensor([1.0, 0.6]).view(2, 1, 1, 1), gt)  # 255 and 153 vs 0
    >>> [round(v, 4) for v in out.tolist()]
    [0.0, 4.437]
    """
    x, y, r = prepare_pair(
        pred, gt, crop_border=crop_border, y_channel=y_channel, round_uint8=round_uint8, batched=True
    )
    return _psnr_from_prepared(x, y, r)


def psnr(
    a: ImageLike,
    b: ImageLike,
    *,
    crop_border: int = 0,
    y_channel: bool = False,
    round_uint8: bool = True,
) -> float:
    """PSNR in dB, ``10 log10(R^2 / MSE)``; ``inf`` for identical (prepared) images.

    Args:
        a, b: float RGB images in [0, 1]: numpy HWC or torch CHW (or BCHW with B = 1).
        crop_border: pixels removed from every side before comparing.
        y_channel: compare the BT.601 luma (MATLAB ``rgb2ycbcr``'s Y) instead of RGB.
        round_uint8: compare ``round(x * 255)`` on the 0..255 scale (R = 255); otherwise the
            clipped [0, 1] values (R = 1).

    >>> import numpy as np
    >>> round(psnr(np.full((4, 4, 3), 0.5), np.full((4, 4, 3), 0.6)), 4)  # 128 vs 153
    20.172
    >>> psnr(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)))
    inf
    """
    x, y, r = prepare_pair(a, b, crop_border=crop_border, y_channel=y_channel, round_uint8=round_uint8)
    return float(_psnr_from_prepared(x, y, r)[0])
