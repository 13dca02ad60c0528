"""``restormer``: Restormer (Zamir et al., CVPR 2022), as used by MiOIR, TUR and PromptIR.

A 4-level U-shaped transformer whose attention runs across channels (MDTA: the attention map is
``C/heads x C/heads`` per head, so the cost is linear in the number of pixels) and whose
feed-forward is a gated depth-wise-conv network (GDFN). Downsampling is conv + PixelUnshuffle(2),
upsampling conv + PixelShuffle(2); encoder features are concatenated into the decoder, reduced by
a 1x1 conv at levels 3 and 2 but not at level 1 (the level-1 decoder and the refinement blocks run
at ``2 * dim`` channels). Output = ``output(refinement) + x`` with no activation.

With the defaults (dim 48, blocks [4, 6, 6, 8], 4 refinement blocks, heads [1, 2, 4, 8], FFN
factor 2.66, no conv biases, LayerNorm with bias) it has exactly 26,126,644 parameters and the
key names of the official release (BasicSR ``params``) and of MiOIR's copy.

The network downsamples three times, so it reflect-pads the input at the bottom/right to a
multiple of ``pad_multiple`` (8, as the official test; MiOIR pads to 64) and crops the output back.
Building blocks here (:class:`TransformerBlock`, :class:`Downsample`, :class:`Upsample`, ...) are
shared with :mod:`aioir.models.promptir`.

>>> import torch
>>> net = Restormer(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, heads=(1, 1, 2, 2))
>>> net(torch.rand(1, 3, 13, 10)).shape
torch.Size([1, 3, 13, 10])
>>> net.uem_tap, net.uem_channels
('refinement', 16)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from aioir.models import MODELS, TEST_OPTIONS
from aioir.models.padding import crop_to, pad_to_multiple
from aioir.models.pretrained import count_indexed


class WithBiasLayerNorm(nn.Module):
    """Layer norm over the last dim: ``(x - mean) / sqrt(var + 1e-5) * weight + bias``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.weight + self.bias


class BiasFreeLayerNorm(nn.Module):
    """Restormer's bias-free variant: ``x / sqrt(var + 1e-5) * weight`` (the mean is kept)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(-1, keepdim=True, unbiased=False)
        return x / torch.sqrt(var + 1e-5) * self.weight


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channels of a BCHW map (parameters under ``body``, as released).

    >>> ln = ChannelLayerNorm(4, "WithBias")
    >>> y = ln(torch.randn(2, 4, 3, 5))
    >>> bool(torch.allclose(y.mean(1), torch.zeros(2, 3, 5), atol=1e-5))
    True
    """

    def __init__(self, dim: int, layernorm_type: str = "WithBias") -> None:
        super().__init__()
        if layernorm_type == "BiasFree":
            self.body: nn.Module = BiasFreeLayerNorm(dim)
        elif layernorm_type == "WithBias":
            self.body = WithBiasLayerNorm(dim)
        else:
            raise ValueError(f"layernorm_type must be 'WithBias' or 'BiasFree', got {layernorm_type!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FeedForward(nn.Module):
    """Gated-Dconv feed-forward (GDFN): ``project_out(gelu(a) * b)``, ``a, b = dwconv(project_in(x))``.

    The hidden width is ``int(dim * ffn_expansion_factor)`` (127 for dim 48 and factor 2.66).
    """

    def __init__(self, dim: int, ffn_expansion_factor: float, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, 1, 1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(a) * b)


class Attention(nn.Module):
    """Multi-Dconv head transposed attention (MDTA): attention across channels per head.

    ``q, k, v = dwconv3x3(conv1x1(x))``; ``q`` and ``k`` are L2-normalised over pixels,
    ``A = softmax(q k^T * temperature)`` is ``(C/h x C/h)`` per head, output ``project_out(A v)``.
    ``temperature`` is a learnable ``(heads, 1, 1)`` scale, initialised to 1.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, 1, 1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        shape = (b, self.num_heads, c // self.num_heads, h * w)
        q = F.normalize(q.reshape(shape), dim=-1)
        k = F.normalize(k.reshape(shape), dim=-1)
        attn = (q @ k.transpose(-2, -1) * self.temperature).softmax(dim=-1)
        out = (attn @ v.reshape(shape)).reshape(b, c, h, w)
        return self.project_out(out)


class TransformerBlock(nn.Module):
    """``x + attn(norm1(x))`` then ``x + ffn(norm2(x))``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layernorm_type: str = "WithBias",
    ) -> None:
        super().__init__()
        self.norm1 = ChannelLayerNorm(dim, layernorm_type)
        self.attn = Attention(dim, num_heads, bias)
        self.norm2 = ChannelLayerNorm(dim, layernorm_type)
        self.ffn = FeedForward(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


def transformer_stage(
    dim: int, depth: int, num_heads: int, ffn_expansion_factor: float, bias: bool, layernorm_type: str
) -> nn.Sequential:
    """``depth`` transformer blocks at ``dim`` channels (keys ``<i>.norm1...``)."""
    return nn.Sequential(
        *[
            TransformerBlock(dim, num_heads, ffn_expansion_factor, bias, layernorm_type)
            for _ in range(depth)
        ]
    )


class OverlapPatchEmbed(nn.Module):
    """3x3 conv from the image to ``embed_dim`` channels (key ``proj``)."""

    def __init__(self, in_c: int = 3, embed_dim: int = 48, bias: bool = False) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_c, embed_dim, 3, 1, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Halve the resolution, double the channels: conv3x3 (C -> C/2) then PixelUnshuffle(2)."""

    def __init__(self, n_feat: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(n_feat, n_feat // 2, 3, 1, 1, bias=False), nn.PixelUnshuffle(2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """Double the resolution, halve the channels: conv3x3 (C -> 2C) then PixelShuffle(2)."""

    def __init__(self, n_feat: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n_feat, n_feat * 2, 3, 1, 1, bias=False), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def check_levels(num_blocks: Sequence[int], heads: Sequence[int], pad_multiple: int) -> None:
    """Validate the 4-level layout options shared by Restormer and PromptIR."""
    if len(num_blocks) != 4 or len(heads) != 4:
        raise ValueError("num_blocks and heads need one entry per level (4)")
    if pad_multiple % 8:
        raise ValueError(f"pad_multiple must be a multiple of 8 (three 2x downsamplings), got {pad_multiple}")


def levels_from_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """The options of the 4-level transformer U-Net shared by Restormer and PromptIR, read off a
    checkpoint: widths (``patch_embed``), blocks per level, refinement blocks, heads per level
    (the attention ``temperature`` is ``(heads, 1, 1)``), the GDFN factor (hidden widths),
    ``bias`` and ``layernorm_type`` (BiasFree layer norms have no ``bias``).

    >>> import torch
    >>> sd = Restormer(**TEST_OPTIONS["restormer"], layernorm_type="BiasFree").state_dict()
    >>> opts = levels_from_state_dict(sd)
    >>> opts["layernorm_type"], opts["heads"], opts["dim"]
    ('BiasFree', [1, 1, 2, 2], 8)
    """
    embed = state["patch_embed.proj.weight"]
    dim = int(embed.shape[0])
    levels = ["encoder_level1", "encoder_level2", "encoder_level3", "latent"]
    num_blocks = [count_indexed(state, name) for name in levels]
    heads = [int(state[f"{name}.0.attn.temperature"].shape[0]) for name in levels]
    hidden = [int(state[f"{name}.0.ffn.project_out.weight"].shape[1]) for name in levels]
    widths = [dim, 2 * dim, 4 * dim, 8 * dim]
    factor = None
    for f in (2.66, hidden[0] / dim, (hidden[0] + 0.5) / dim):
        if all(int(c * f) == h for c, h in zip(widths, hidden)):
            factor = f
            break
    if factor is None:
        raise ValueError(f"cannot find an ffn_expansion_factor giving the hidden widths {hidden}")
    return {
        "in_channels": int(embed.shape[1]),
        "out_channels": int(state["output.weight"].shape[0]),
        "dim": dim,
        "num_blocks": num_blocks,
        "num_refinement_blocks": count_indexed(state, "refinement"),
        "heads": heads,
        "ffn_expansion_factor": factor,
        "bias": "encoder_level1.0.attn.qkv.bias" in state,
        "layernorm_type": "WithBias" if "encoder_level1.0.norm1.body.bias" in state else "BiasFree",
    }


@MODELS.register("restormer")
class Restormer(nn.Module):
    """Restormer with the official defaults.

    Args:
        in_channels: image channels in (``inp_channels`` in the official code).
        out_channels: image channels out (must equal ``in_channels``: residual to the input).
        dim: channels at level 1 (doubled per level).
        num_blocks: transformer blocks at levels 1-4 (level 4 is the latent).
        num_refinement_blocks: blocks after the level-1 decoder.
        heads: attention heads per level.
        ffn_expansion_factor: GDFN hidden width factor.
        bias: biases in the convolutions.
        layernorm_type: ``"WithBias"`` or ``"BiasFree"``.
        pad_multiple: reflect-pad the input (bottom/right) to this multiple; 8 minimum.
    """

    uem_tap = "refinement"

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layernorm_type: str = "WithBias",
        pad_multiple: int = 8,
    ) -> None:
        super().__init__()
        check_levels(num_blocks, heads, pad_multiple)
        if in_channels != out_channels:
            raise ValueError("restormer adds its input to the output: in_channels must equal out_channels")
        self.pad_multiple = pad_multiple
        self.uem_channels = 2 * dim

        def stage(channels: int, depth: int, level: int) -> nn.Sequential:
            return transformer_stage(
                channels, depth, heads[level], ffn_expansion_factor, bias, layernorm_type
            )

        self.patch_embed = OverlapPatchEmbed(in_channels, dim)
        self.encoder_level1 = stage(dim, num_blocks[0], 0)
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = stage(dim * 2, num_blocks[1], 1)
        self.down2_3 = Downsample(dim * 2)
        self.encoder_level3 = stage(dim * 4, num_blocks[2], 2)
        self.down3_4 = Downsample(dim * 4)
        self.latent = stage(dim * 8, num_blocks[3], 3)
        self.up4_3 = Upsample(dim * 8)
        self.reduce_chan_level3 = nn.Conv2d(dim * 8, dim * 4, 1, bias=bias)
        self.decoder_level3 = stage(dim * 4, num_blocks[2], 2)
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, 1, bias=bias)
        self.decoder_level2 = stage(dim * 2, num_blocks[1], 1)
        self.up2_1 = Upsample(dim * 2)
        self.decoder_level1 = stage(dim * 2, num_blocks[0], 0)
        self.refinement = stage(dim * 2, num_refinement_blocks, 0)
        self.output = nn.Conv2d(dim * 2, out_channels, 3, 1, 1, bias=bias)

    @staticmethod
    def options_from_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
        """Options read off a checkpoint (:func:`levels_from_state_dict`): Restormer's released
        denoising models are ``BiasFree``, the others ``WithBias``."""
        return levels_from_state_dict(state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_to_multiple(x, self.pad_multiple)
        enc1 = self.encoder_level1(self.patch_embed(xp))
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        latent = self.latent(self.down3_4(enc3))
        dec3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(latent), enc3], 1)))
        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], 1)))
        dec1 = self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], 1))
        out = self.output(self.refinement(dec1)) + xp
        return crop_to(out, h, w)


TEST_OPTIONS["restormer"] = {
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_refinement_blocks": 1,
    "heads": [1, 1, 2, 2],
}
