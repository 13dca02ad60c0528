"""Building blocks of Uformer (Wang et al., CVPR 2022): windows, LeWin blocks, LeFF, sampling.

Tokens are ``(B, H*W, C)`` tensors in row-major pixel order; every function that needs the
spatial layout receives ``H`` and ``W`` explicitly (the authors' code recomputes a square side as
``sqrt(H*W)``; passing the sides gives the same result on the square inputs it supports).
Module and parameter names follow the authors' classes so their checkpoints load.

>>> import torch
>>> x = torch.arange(2 * 4 * 4 * 1.0).view(2, 4, 4, 1)
>>> windows = window_partition(x, 2)
>>> windows.shape
torch.Size([8, 2, 2, 1])
>>> torch.equal(window_reverse(windows, 2, 4, 4), x)
True
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from aioir.models.layers import DropPath


def window_partition(x: torch.Tensor, win: int) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B * H/win * W/win, win, win, C)``; windows row-major per image."""
    b, h, w, c = x.shape
    x = x.view(b, h // win, win, w // win, win, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, win, win, c)


def window_reverse(windows: torch.Tensor, win: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B * nW, win, win, C)`` -> ``(B, H, W, C)``."""
    nh, nw = height // win, width // win
    b = windows.shape[0] // (nh * nw)
    x = windows.view(b, nh, nw, win, win, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, height, width, -1)


def relative_position_index(win: int) -> torch.Tensor:
    """``(win*win, win*win)`` int64 index into a ``(2*win-1)**2`` bias table.

    Entry ``[i, j]`` for window positions ``i = (yi, xi)``, ``j = (yj, xj)`` is
    ``(yi - yj + win - 1) * (2*win - 1) + (xi - xj + win - 1)`` (Swin/Uformer convention).
    """
    coords = torch.stack(torch.meshgrid(torch.arange(win), torch.arange(win), indexing="ij"))
    flat = coords.flatten(1)  # 2, N
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0) + (win - 1)  # N, N, 2
    return rel[..., 0] * (2 * win - 1) + rel[..., 1]


def shift_attention_mask(
    height: int, width: int, win: int, shift: int, device: torch.device | None = None
) -> torch.Tensor:
    """``(nW, win*win, win*win)`` additive mask for shifted windows: 0 within a region, -100 across.

    After the cyclic shift by ``-shift``, the last ``win`` rows/columns hold pixels from up to
    three image regions (``[0, H-win)``, ``[H-win, H-shift)``, ``[H-shift, H)``); tokens of
    different regions must not attend to each other. -100 is the authors' value.
    """
    labels = torch.zeros(1, height, width, 1, device=device)
    bounds_h = ((0, height - win), (height - win, height - shift), (height - shift, height))
    bounds_w = ((0, width - win), (width - win, width - shift), (width - shift, width))
    region = 0
    for h0, h1 in bounds_h:
        for w0, w1 in bounds_w:
            labels[:, h0:h1, w0:w1, :] = region
            region += 1
    windows = window_partition(labels, win).view(-1, win * win)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class LinearProjection(nn.Module):
    """Queries from ``to_q`` (dim -> dim), keys and values from ``to_kv`` (dim -> 2*dim)."""

    def __init__(self, dim: int, heads: int, bias: bool = True) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(..., N, C)`` -> q, k, v each ``(..., heads, N, C/heads)``."""
        *lead, n, c = x.shape
        d = c // self.heads
        q = self.to_q(x).view(*lead, n, self.heads, d).transpose(-3, -2)
        kv = self.to_kv(x).view(*lead, n, 2, self.heads, d)
        k = kv[..., 0, :, :].transpose(-3, -2)
        v = kv[..., 1, :, :].transpose(-3, -2)
        return q, k, v


class WindowAttention(nn.Module):
    """Multi-head self-attention inside ``win x win`` windows with a learned relative position bias.

    ``attn = softmax(q k^T / sqrt(d) + bias[relative_position_index] + mask) v``, then ``proj``.
    """

    relative_position_index: torch.Tensor

    def __init__(
        self,
        dim: int,
        win: int,
        heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by {heads} heads")
        self.dim, self.win, self.heads = dim, win, heads
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * win - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(win))
        self.qkv = LinearProjection(dim, heads, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def position_bias(self) -> torch.Tensor:
        """``(heads, N, N)`` bias gathered from the table."""
        n = self.win * self.win
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, self.heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``(B, nW, N, C)`` windows; ``mask``: ``(nW, N, N)`` or None."""
        q, k, v = self.qkv(x)  # (B, nW, heads, N, d)
        bias = self.position_bias()
        if mask is not None:
            bias = bias.unsqueeze(0) + mask.unsqueeze(1)  # (nW, heads, N, N)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias.to(q.dtype), dropout_p=self.attn_drop if self.training else 0.0
        )
        out = out.transpose(-3, -2).flatten(-2)  # (B, nW, N, C)
        return self.proj_drop(self.proj(out))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, win={self.win}, heads={self.heads}"


class LeFF(nn.Module):
    """Locally-enhanced feed-forward: Linear+GELU, depthwise 3x3 conv+GELU on the grid, Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.linear1 = nn.Sequential(nn.Linear(dim, hidden), nn.GELU())
        dw = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.dwconv = nn.Sequential(dw, nn.GELU())
        self.linear2 = nn.Sequential(nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, _n, _ = x.shape
        x = self.linear1(x)
        x = x.transpose(1, 2).reshape(b, -1, height, width)
        x = self.dwconv(x).flatten(2).transpose(1, 2)
        return self.linear2(x)


class LeWinBlock(nn.Module):
    """Locally-enhanced window Transformer block (the authors' ``LeWinTransformerBlock``).

    ``x = x + drop_path(W-MSA(norm1(x) [+ modulator]))``; ``x = x + drop_path(LeFF(norm2(x)))``.
    W-MSA runs on (optionally cyclically shifted) non-overlapping windows; the decoder's
    modulator is a learned ``(win*win, dim)`` embedding added to every window's tokens.

    Args:
        dim: token channels.
        heads: attention heads.
        win: window side.
        shift: cyclic shift (0 or ``win // 2``).
        mlp_ratio: LeFF hidden width / dim.
        modulator: add the learned window modulator (decoder blocks of Uformer-B).
        drop_path: stochastic-depth probability of both residual branches.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        win: int = 8,
        shift: int = 0,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        modulator: bool = False,
    ) -> None:
        super().__init__()
        if not 0 <= shift < win:
            raise ValueError(f"shift {shift} must be in [0, {win})")
        self.dim, self.win, self.shift = dim, win, shift
        self.modulator = nn.Embedding(win * win, dim) if modulator else None
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, win, heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = LeFF(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        b, _, c = x.shape
        win, shift = self.win, self.shift
        y = self.norm1(x).view(b, height, width, c)
        if shift:
            y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2))
        windows = window_partition(y, win).view(b, -1, win * win, c)
        if self.modulator is not None:
            windows = windows + self.modulator.weight
        mask = shift_attention_mask(height, width, win, shift, x.device) if shift else None
        y = self.attn(windows, mask).reshape(-1, win, win, c)
        y = window_reverse(y, win, height, width)
        if shift:
            y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
        x = x + self.drop_path(y.reshape(b, height * width, c))
        return x + self.drop_path(self.mlp(self.norm2(x), height, width))


class BasicUformerLayer(nn.Module):
    """A stack of LeWin blocks at one scale; with ``shift_flag`` odd-indexed blocks are shifted."""

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        win: int,
        resolution: int,
        drop_path: list[float],
        shift_flag: bool = True,
        modulator: bool = False,
        **block_options: Any,
    ) -> None:
        super().__init__()
        # the authors' rule: a layer whose nominal resolution fits in one window uses that
        # resolution as its window and no shift
        shift = win // 2 if shift_flag else 0
        if resolution <= win:
            win, shift = resolution, 0
        self.win = win
        self.blocks = nn.ModuleList(
            LeWinBlock(
                dim,
                heads,
                win=win,
                shift=shift if i % 2 else 0,
                drop_path=drop_path[i],
                modulator=modulator,
                **block_options,
            )
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, height, width)
        return x


class Downsample(nn.Module):
    """Tokens at ``H x W`` -> tokens at ``H/2 x W/2`` through a 4x4 stride-2 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1))

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        x = x.transpose(1, 2).reshape(x.shape[0], -1, height, width)
        return self.conv(x).flatten(2).transpose(1, 2)


class Upsample(nn.Module):
    """Tokens at ``H x W`` -> tokens at ``2H x 2W`` through a 2x2 stride-2 transposed conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.deconv = nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2))

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        x = x.transpose(1, 2).reshape(x.shape[0], -1, height, width)
        return self.deconv(x).flatten(2).transpose(1, 2)


class InputProj(nn.Module):
    """Image ``(B, C, H, W)`` -> tokens ``(B, H*W, dim)``: 3x3 conv + LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.LeakyReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class OutputProj(nn.Module):
    """Feature map ``(B, C, H, W)`` -> image residual ``(B, out, H, W)``: one 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)
