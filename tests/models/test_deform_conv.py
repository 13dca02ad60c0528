"""The pure-PyTorch modulated deformable convolution against the DCNv2 definition.

The reference below is written from the definition only: a loop over output positions and kernel
taps, bilinear interpolation by hand from the four integer neighbours (a neighbour outside the
image contributes zero), times the mask, then the weighted sum. Gradients of both are compared
through autograd.
"""

from __future__ import annotations

import math

import pytest
import torch

from aioir.models.deform_conv import deform_conv2d_torch, modulated_deform_conv2d


def _bilinear(img: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """img (C,H,W); y, x 0-d tensors (pixel coordinates); zero outside the image."""
    h, w = img.shape[-2:]
    y0, x0 = math.floor(float(y.detach())), math.floor(float(x.detach()))
    out = torch.zeros(img.shape[0], dtype=img.dtype)
    for yi in (y0, y0 + 1):
        for xi in (x0, x0 + 1):
            if 0 <= yi < h and 0 <= xi < w:
                wgt = (1 - (y - yi).abs()) * (1 - (x - xi).abs())
                out = out + wgt * img[:, yi, xi]
    return out


def naive_dcn(x, offset, mask, weight, bias, stride, padding, dilation):
    b, c, _h, _w = x.shape
    cout, cin_g, kh, kw = weight.shape
    groups = c // cin_g
    kk = kh * kw
    dg = offset.shape[1] // (2 * kk)
    ho, wo = offset.shape[-2:]
    rows = []
    for n in range(b):
        cols = []  # per output position: (C*K,) sampled and modulated values
        for i in range(ho):
            for j in range(wo):
                vals = torch.zeros(c, kk, dtype=x.dtype)
                for g in range(dg):
                    chans = slice(g * c // dg, (g + 1) * c // dg)
                    for ki in range(kh):
                        for kj in range(kw):
                            k = ki * kw + kj
                            dy = offset[n, 2 * (g * kk + k), i, j]
                            dx = offset[n, 2 * (g * kk + k) + 1, i, j]
                            py = i * stride - padding + ki * dilation + dy
                            px = j * stride - padding + kj * dilation + dx
                            m = mask[n, g * kk + k, i, j]
                            vals[chans, k] = m * _bilinear(x[n, chans], py, px)
                cols.append(vals)
        col = torch.stack(cols, dim=-1)  # (C, K, L)
        outs = []
        for gi in range(groups):
            wg = weight[gi * cout // groups : (gi + 1) * cout // groups].reshape(cout // groups, -1)
            cg = col[gi * cin_g : (gi + 1) * cin_g].reshape(cin_g * kk, -1)
            outs.append(wg @ cg)
        y = torch.cat(outs, 0).reshape(cout, ho, wo)
        if bias is not None:
            y = y + bias[:, None, None]
        rows.append(y)
    return torch.stack(rows)


CASES = [
    # (B, C, H, W, Cout, k, stride, padding, dilation, groups, deform_groups, bias)
    (2, 3, 5, 6, 4, 3, 1, 1, 1, 1, 1, True),
    (1, 4, 6, 5, 2, 3, 2, 1, 2, 2, 2, False),
    (1, 2, 1, 4, 3, 3, 1, 1, 1, 1, 1, True),  # a one-pixel-high image
]


@pytest.mark.parametrize("case", CASES)
def test_matches_definition_forward_and_gradients(case):
    b, c, h, w, cout, k, s, p, d, groups, dg, with_bias = case
    g = torch.Generator().manual_seed(0)
    ho = (h + 2 * p - d * (k - 1) - 1) // s + 1
    wo = (w + 2 * p - d * (k - 1) - 1) // s + 1
    dt = torch.float64
    x = torch.rand(b, c, h, w, generator=g, dtype=dt, requires_grad=True)
    # offsets up to +-2.5 px: many samples fall partly or wholly outside the image
    offset = ((torch.rand(b, 2 * dg * k * k, ho, wo, generator=g, dtype=dt) - 0.5) * 5)
    offset.requires_grad_(True)
    mask = torch.rand(b, dg * k * k, ho, wo, generator=g, dtype=dt, requires_grad=True)
    weight = torch.randn(cout, c // groups, k, k, generator=g, dtype=dt, requires_grad=True)
    bias = torch.randn(cout, generator=g, dtype=dt, requires_grad=True) if with_bias else None
    leaves = [x, offset, mask, weight] + ([bias] if with_bias else [])

    ref = naive_dcn(x, offset, mask, weight, bias, s, p, d)
    out = deform_conv2d_torch(x, offset, mask, weight, bias, s, p, d)
    assert out.shape == (b, cout, ho, wo)
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)

    probe = torch.randn(ref.shape, generator=g, dtype=dt)
    g_ref = torch.autograd.grad((ref * probe).sum(), leaves)
    g_out = torch.autograd.grad((out * probe).sum(), leaves)
    for name, a, e in zip(["x", "offset", "mask", "weight", "bias"], g_out, g_ref):
        torch.testing.assert_close(a, e, rtol=1e-8, atol=1e-8, msg=f"grad wrt {name}")


def test_zero_offset_unit_mask_is_a_plain_convolution():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 7, 9, generator=g)
    wgt = torch.randn(5, 3, 3, 3, generator=g)
    bias = torch.randn(5, generator=g)
    y = modulated_deform_conv2d(
        x, torch.zeros(2, 18, 7, 9), torch.ones(2, 9, 7, 9), wgt, bias, 1, 1, 1, backend="torch"
    )
    torch.testing.assert_close(y, torch.nn.functional.conv2d(x, wgt, bias, padding=1))


def test_integer_offset_shifts_the_sample_and_outside_is_zero():
    # a 1x1 kernel with offset (dy, dx) = (1, -2) reads x[i+1, j-2], zero where that is outside
    x = torch.arange(20.0).reshape(1, 1, 4, 5)
    off = torch.zeros(1, 2, 4, 5)
    off[:, 0], off[:, 1] = 1.0, -2.0
    y = deform_conv2d_torch(x, off, torch.full((1, 1, 4, 5), 0.5), torch.ones(1, 1, 1, 1))
    expected = torch.zeros(4, 5)
    for i in range(4):
        for j in range(5):
            if i + 1 < 4 and j - 2 >= 0:
                expected[i, j] = 0.5 * (5 * (i + 1) + (j - 2))
    torch.testing.assert_close(y[0, 0], expected)


def test_bad_backend_name():
    with pytest.raises(ValueError, match="backend"):
        modulated_deform_conv2d(
            torch.rand(1, 1, 3, 3), torch.zeros(1, 2, 3, 3), None, torch.ones(1, 1, 1, 1),
            backend="mmcv",
        )
