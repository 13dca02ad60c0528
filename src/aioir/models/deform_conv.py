"""Modulated deformable convolution (DCNv2) with a pure-PyTorch fallback.

For every output position ``p`` and kernel position ``k`` (row-major over ``kh x kw``) the input
is sampled at

    ``p_k = p * stride - padding + k * dilation + (dy_k, dx_k)``

by bilinear interpolation, where samples outside the image are zero (each of the four
neighbours outside the image contributes 0), multiplied by the modulation ``mask_k`` and
contracted with the weights:

    ``y[o, p] = bias[o] + sum_{c, k} w[o, c, k] * mask_k(p) * x_c(p_k)``.

Layout (as torchvision and mmcv): ``offset`` is ``(B, 2 * dg * kh * kw, Ho, Wo)`` with the
``(dy, dx)`` pair of kernel position ``k`` of deformable group ``g`` at channels
``2 * (g * kh * kw + k)`` and ``+1``; ``mask`` is ``(B, dg * kh * kw, Ho, Wo)``.

:func:`modulated_deform_conv2d` uses ``torchvision.ops.deform_conv2d`` when torchvision can be
imported (it is optional and never imported at module level), otherwise
:func:`deform_conv2d_torch`, built from ``grid_sample`` (bilinear, ``align_corners=True`` on pixel
coordinates of the zero-padded input) and one matrix product; autograd gives every gradient.

>>> import torch
>>> x = torch.rand(1, 2, 5, 6)
>>> w = torch.rand(3, 2, 3, 3)
>>> off = torch.zeros(1, 18, 5, 6)
>>> mask = torch.ones(1, 9, 5, 6)
>>> y = deform_conv2d_torch(x, off, mask, w, None, padding=1)
>>> torch.allclose(y, torch.nn.functional.conv2d(x, w, padding=1), atol=1e-5)
True
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

IntPair = int | tuple[int, int]


def _pair(v: IntPair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


@functools.lru_cache(maxsize=1)
def torchvision_available() -> bool:
    """True when ``torchvision.ops.deform_conv2d`` can be imported (checked once)."""
    try:
        from torchvision.ops import deform_conv2d  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError, or a broken torchvision/torch pairing
        return False
    return True


def deform_conv2d_torch(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """Pure-PyTorch modulated deformable convolution (see the module docstring).

    Groups (``weight.shape[1] < C``) and deformable groups (from ``offset``'s channels) are
    supported; ``mask=None`` means an all-ones modulation (DCNv1).
    """
    b, c, h, w = x.shape
    cout, cin_g, kh, kw = weight.shape
    groups = c // cin_g
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    kk = kh * kw
    dg = offset.shape[1] // (2 * kk)
    if offset.shape[1] != 2 * dg * kk or c % dg or c % groups or cout % groups:
        raise ValueError(
            f"inconsistent shapes: x {tuple(x.shape)}, offset {tuple(offset.shape)}, "
            f"weight {tuple(weight.shape)}"
        )
    if offset.shape[-2:] != (ho, wo):
        raise ValueError(f"offset spatial size {tuple(offset.shape[-2:])} != output {(ho, wo)}")

    # regular sampling grid p * stride - padding + k * dilation, shape (K, Ho, Wo) each
    dtype, dev = x.dtype, x.device
    ky, kx = torch.meshgrid(
        torch.arange(kh, device=dev, dtype=dtype) * dh,
        torch.arange(kw, device=dev, dtype=dtype) * dw,
        indexing="ij",
    )
    oy = torch.arange(ho, device=dev, dtype=dtype) * sh - ph
    ox = torch.arange(wo, device=dev, dtype=dtype) * sw - pw
    base_y = ky.reshape(kk, 1, 1) + oy.reshape(1, ho, 1)
    base_x = kx.reshape(kk, 1, 1) + ox.reshape(1, 1, wo)

    off = offset.reshape(b, dg, kk, 2, ho, wo)
    py = base_y + off[:, :, :, 0]  # (B, dg, K, Ho, Wo), pixel coordinates
    px = base_x + off[:, :, :, 1]

    # sample from the input zero-padded by one pixel: exact "zero outside" bilinear sampling,
    # and sides of >= 3 pixels so the align_corners=True normalisation is well defined
    xp = F.pad(x, (1, 1, 1, 1)).reshape(b * dg, c // dg, h + 2, w + 2)
    gx = (px + 1) * (2.0 / (w + 1)) - 1
    gy = (py + 1) * (2.0 / (h + 1)) - 1
    grid = torch.stack((gx, gy), dim=-1).reshape(b * dg, kk * ho, wo, 2)
    cols = F.grid_sample(xp, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    cols = cols.reshape(b, dg, c // dg, kk, ho, wo)
    if mask is not None:
        cols = cols * mask.reshape(b, dg, 1, kk, ho, wo)
    # (B, groups, Cin_g * K, L) against weight (groups, Cout_g, Cin_g * K)
    cols = cols.reshape(b, groups, cin_g * kk, ho * wo)
    wmat = weight.reshape(groups, cout // groups, cin_g * kk)
    out = torch.einsum("gok,bgkl->bgol", wmat, cols).reshape(b, cout, ho, wo)
    if bias is not None:
        out = out + bias.reshape(1, cout, 1, 1)
    return out


def modulated_deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    backend: str = "auto",
) -> torch.Tensor:
    """Modulated deformable convolution; ``backend`` is ``auto``, ``torchvision`` or ``torch``.

    ``auto`` takes torchvision's kernel when it is importable, the pure-PyTorch one otherwise;
    both compute the same function (DCNv2, zero outside the image).
    """
    if backend not in ("auto", "torch", "torchvision"):
        raise ValueError(f"backend must be auto, torch or torchvision, got {backend!r}")
    if backend == "torchvision" or (backend == "auto" and torchvision_available()):
        from torchvision.ops import deform_conv2d

        return deform_conv2d(
            x,
            offset,
            weight,
            bias,
            stride=_pair(stride),
            padding=_pair(padding),
            dilation=_pair(dilation),
            mask=mask,
        )
    return deform_conv2d_torch(x, offset, mask, weight, bias, stride, padding, dilation)
