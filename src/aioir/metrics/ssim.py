"""Structural similarity (Wang et al. 2004) as the restoration field computes it.

Two windows, both evaluated only where the window fits inside the image ("valid" region, no
padding), K1 = 0.01, K2 = 0.03, averaged over pixels and then channels:

* ``"gaussian"`` (default): 11x11 Gaussian (sigma 1.5, normalised), population statistics, as
  in Wang et al.'s MATLAB code and BasicSR (MiOIR, TUR, DA-CLIP);
* ``"uniform"``: 7x7 box with sample covariance (N / (N - 1), N = 49), which is what
  ``skimage.metrics.structural_similarity`` does with its default arguments, as called by the
  AirNet and PromptIR evaluation scripts.

The filter is separable and applied as two 1-D convolutions in float64.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from .image import ImageLike, prepare_pair

Window = Literal["gaussian", "uniform"]

__all__ = ["gaussian_window", "ssim", "ssim_batch"]

WINDOW = 11
SIGMA = 1.5
UNIFORM_WINDOW = 7
K1, K2 = 0.01, 0.03


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian taps ``exp(-(i - c)^2 / (2 sigma^2))`` (float64, sums to 1).

    >>> w = gaussian_window()
    >>> w.shape, round(w.sum().item(), 12), w.argmax().item()
    (torch.Size([11]), 1.0, 5)
    """
    i = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(i**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter over each channel of ``x`` (B, C, H, W), 'valid' output."""
    c = x.shape[1]
    k = taps.to(device=x.device, dtype=x.dtype)
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _window_taps(window: str) -> tuple[torch.Tensor, float]:
    """1-D taps of ``window`` and the covariance normalisation it uses."""
    if window == "gaussian":
        return gaussian_window(), 1.0
    if window == "uniform":
        n = UNIFORM_WINDOW
        return torch.full((n,), 1.0 / n, dtype=torch.float64), n * n / (n * n - 1.0)
    raise ValueError(f"window must be 'gaussian' or 'uniform', got {window!r}")


def _ssim_from_prepared(
    x: torch.Tensor, y: torch.Tensor, data_range: float, window: str = "gaussian"
) -> torch.Tensor:
    taps, cov_norm = _window_taps(window)
    h, w = x.shape[-2:]
    size = taps.numel()
    if min(h, w) < size:
        raise ValueError(f"SSIM needs at least {size}x{size} pixels after cropping, got {h}x{w}")
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_x, mu_y = _filter_valid(x, taps), _filter_valid(y, taps)
    var_x = cov_norm * (_filter_valid(x * x, taps) - mu_x**2)
    var_y = cov_norm * (_filter_valid(y * y, taps) - mu_y**2)
    cov = cov_norm * (_filter_valid(x * y, taps) - mu_x * mu_y)
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean(dim=(2, 3)).mean(dim=1)


@torch.no_grad()
def ssim_batch(
    pred: torch.Tensor,
    gt: torch.Tensor,
    *,
    crop_border: int = 0,
    y_channel: bool = False,
    round_uint8: bool = True,
    window: Window = "gaussian",
) -> torch.Tensor:
    """Per-image SSIM of two ``(B, C, H, W)`` batches in [0, 1]; a float64 ``(B,)`` tensor.

    >>> g = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> ssim_batch(g, g).tolist()
    [1.0, 1.0]
    """
    x, y, r = prepare_pair(
        pred, gt, crop_border=crop_border, y_channel=y_channel, round_uint8=round_uint8, batched=True
    )
    return _ssim_from_prepared(x, y, r, window)


def ssim(
    a: ImageLike,
    b: ImageLike,
    *,
    crop_border: int = 0,
    y_channel: bool = False,
    round_uint8: bool = True,
    window: Window = "gaussian",
) -> float:
    """SSIM of two images (same inputs and options as :func:`aioir.metrics.psnr`).

    ``window`` is ``"gaussian"`` (11x11, sigma 1.5) or ``"uniform"`` (7x7, sample covariance;
    see the module notes). The image must be at least as large as the window after cropping.

    >>> import numpy as np
    >>> a = np.random.default_rng(0).random((16, 16, 3))
    >>> ssim(a, a), ssim(a, 1 - a) < 0
    (1.0, True)
    """
    x, y, r = prepare_pair(a, b, crop_border=crop_border, y_channel=y_channel, round_uint8=round_uint8)
    return float(_ssim_from_prepared(x, y, r, window)[0])
