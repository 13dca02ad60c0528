"""``transweather``: TransWeather (Valanarasu et al., CVPR 2022), adverse-weather removal.

A transformer encoder (``Tenc``: four stages of overlapping patch embeddings and efficient
self-attention blocks at 1/4 ... 1/32, plus an intra-patch branch per stage), a transformer
decoder (``Tdec``: learnable weather-type queries attending to the 1/64 features), and a
convolutional projection (``convtail``: transposed convs with skips back to full resolution,
8 channels), then ``clean`` (3x3 conv) and Tanh. Parameter names and shapes follow the authors'
code (``state_dicts/transweather.json``, 38,052,078 parameters); ``art_variant=True`` drops the
two modules that the official forward never uses (``Tenc.mini_patch_embed4``,
``convtail.conv_output``) as the Art/TUR copy does (``transweather_art.json``, 37,755,411).

How it is called here (the outside sees [0, 1] images, like every aioir backbone):

* the input in [0, 1] is normalised inside, ``(x - 0.5) / 0.5`` (the official loaders'
  ``Normalize(0.5, 0.5)``);
* it is reflect-padded at the bottom/right to multiples of 16 and at least 48 (the sizes the
  official network accepts), and the output is cropped back;
* the output is ``tanh(clean(convtail(...)))``, returned as is: the official training compares
  it directly with the [0, 1] ground truth, so a trained network outputs values in [0, 1);
  clip to [0, 1] in evaluation code, not in the model.

>>> import torch
>>> net = TransWeather(**TEST_OPTIONS["transweather"]).eval()
>>> y = net(torch.rand(1, 3, 21, 30))
>>> y.shape, bool(y.abs().max() < 1)
(torch.Size([1, 3, 21, 30]), True)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from aioir.models import MODELS, TEST_OPTIONS
from aioir.models.layers import DropPath
from aioir.models.padding import crop_to, pad_to_multiple
from aioir.models.pretrained import count_indexed

#: decoder stochastic-depth schedule: the authors' Tdec builds linspace(0, rate, 16) (the sum of
#: its unused ``depths=[3, 4, 6, 3]``) and its blocks take the first entries
_DEC_DPR_SPAN = 16


def _init_weights(m: nn.Module) -> None:
    """The authors' init (SegFormer style) for Linear, LayerNorm and Conv2d layers."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _tokens_to_map(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, h*w, C) -> (B, C, h, w)."""
    return x.transpose(1, 2).reshape(x.shape[0], -1, h, w)


class OverlapPatchEmbed(nn.Module):
    """Strided conv (``patch_size``, ``stride``, padding ``patch_size // 2``) + LayerNorm.

    Returns tokens (B, h*w, C) and ``(h, w)``.
    """

    def __init__(self, patch_size: int, stride: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride, patch_size // 2)
        self.norm = nn.LayerNorm(embed_dim)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), h, w


class DWConv(nn.Module):
    """Depth-wise 3x3 conv on tokens (the Mix-FFN positional term)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.dwconv(_tokens_to_map(x, h, w)).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    """fc1 - depth-wise conv - GELU - fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.fc2(self.act(self.dwconv(self.fc1(x), h, w)))


class _KV(nn.Module):
    """Shared part of both attentions: keys/values, optionally from a spatially reduced map."""

    def _init_kv(self, dim: int, num_heads: int, qkv_bias: bool, sr_ratio: int) -> None:
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, sr_ratio)
            self.norm = nn.LayerNorm(dim)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, heads, N, C / heads)."""
        b, n, c = t.shape
        return t.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def _keys_values(self, x: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.sr_ratio > 1:
            x = self.norm(self.sr(_tokens_to_map(x, h, w)).flatten(2).transpose(1, 2))
        k, v = self.kv(x).chunk(2, dim=-1)
        return self._heads(k), self._heads(v)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2)
        return self.proj(out.reshape(out.shape[0], out.shape[1], -1))


class Attention(_KV):
    """Efficient self-attention: keys/values from a map reduced ``sr_ratio`` times."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, sr_ratio: int = 1) -> None:
        super().__init__()
        self._init_kv(dim, num_heads, qkv_bias, sr_ratio)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        k, v = self._keys_values(x, h, w)
        return self._attend(self._heads(self.q(x)), k, v)


class AttentionDec(_KV):
    """Decoder attention: learnable weather-type queries ``task_query`` (1, Q, C) attend to x.

    As the authors' code, the projected queries (B, heads, Q, d) are resized to the number of
    tokens N with nearest-neighbour interpolation, so the output has one token per input token.
    """

    def __init__(
        self, dim: int, num_heads: int, qkv_bias: bool = True, sr_ratio: int = 1,
        num_queries: int = 48,
    ) -> None:
        super().__init__()
        self.task_query = nn.Parameter(torch.randn(1, num_queries, dim))
        self._init_kv(dim, num_heads, qkv_bias, sr_ratio)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        k, v = self._keys_values(x, h, w)
        q = self._heads(self.q(self.task_query.expand(x.shape[0], -1, -1)))
        q = F.interpolate(q, size=(v.shape[2], v.shape[3]), mode="nearest")
        return self._attend(q, k, v)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, ``x + mlp(norm2(x))`` (drop path)."""

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float, sr_ratio: int, drop_path: float,
        decoder: bool = False, num_queries: int = 48,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn: nn.Module = (
            AttentionDec(dim, num_heads, True, sr_ratio, num_queries)
            if decoder
            else Attention(dim, num_heads, True, sr_ratio)
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), h, w))
        return x + self.drop_path(self.mlp(self.norm2(x), h, w))


class EncoderTransformer(nn.Module):
    """``Tenc``: four main stages plus an intra-patch branch feeding stages 2-4.

    Stage i runs ``block{i}`` on the main tokens; the intra-patch branch embeds the previous
    stage's map once more (``mini_patch_embed{i}``, stride 2), runs ``patch_block{i}`` (one
    block) and is added to the next stage's embedding. Returns the four maps (1/4 ... 1/32).
    """

    # the first stage's modules (set with the others by name in __init__)
    block1: nn.ModuleList
    norm1: nn.LayerNorm
    patch_block1: nn.ModuleList
    pnorm1: nn.LayerNorm

    def __init__(
        self, embed_dims: Sequence[int], num_heads: Sequence[int], mlp_ratios: Sequence[float],
        depths: Sequence[int], sr_ratios: Sequence[int], drop_path_rate: float,
        with_unused: bool = True,
    ) -> None:
        super().__init__()
        d = list(embed_dims)
        self.patch_embed1 = OverlapPatchEmbed(7, 4, 3, d[0])
        self.patch_embed2 = OverlapPatchEmbed(3, 2, d[0], d[1])
        self.patch_embed3 = OverlapPatchEmbed(3, 2, d[1], d[2])
        self.patch_embed4 = OverlapPatchEmbed(3, 2, d[2], d[3])
        self.mini_patch_embed1 = OverlapPatchEmbed(3, 2, d[0], d[1])
        self.mini_patch_embed2 = OverlapPatchEmbed(3, 2, d[1], d[2])
        self.mini_patch_embed3 = OverlapPatchEmbed(3, 2, d[2], d[3])
        if with_unused:  # present in the official checkpoint, never used by its forward
            self.mini_patch_embed4 = OverlapPatchEmbed(3, 2, d[0], d[3])
        dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        # intra-patch block i: width d[i], heads/mlp/sr as the authors chose per stage
        patch_cfg = [(num_heads[0], mlp_ratios[0], sr_ratios[0]),
                     (num_heads[1], mlp_ratios[1], sr_ratios[1]),
                     (num_heads[1], mlp_ratios[2], sr_ratios[2])]
        cur = 0
        for i in range(4):
            blocks = [Block(d[i], num_heads[i], mlp_ratios[i], sr_ratios[i], dpr[cur + j])
                      for j in range(depths[i])]
            setattr(self, f"block{i + 1}", nn.ModuleList(blocks))
            setattr(self, f"norm{i + 1}", nn.LayerNorm(d[i], eps=1e-6))
            if i < 3:
                heads, ratio, sr = patch_cfg[i]
                setattr(self, f"patch_block{i + 1}",
                        nn.ModuleList([Block(d[i + 1], heads, ratio, sr, dpr[cur])]))
                setattr(self, f"pnorm{i + 1}", nn.LayerNorm(d[i + 1], eps=1e-6))
            cur += depths[i]
        self.apply(_init_weights)

    @staticmethod
    def _run(
        blocks: nn.ModuleList, norm: nn.Module, x: torch.Tensor, h: int, w: int
    ) -> torch.Tensor:
        for blk in blocks:
            x = blk(x, h, w)
        return _tokens_to_map(norm(x), h, w)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        tokens, h, w = self.patch_embed1(x)
        mini, mh, mw = self.mini_patch_embed1(_tokens_to_map(tokens, h, w))
        feat = self._run(self.block1, self.norm1, tokens, h, w)
        patch = self._run(self.patch_block1, self.pnorm1, mini, mh, mw)
        outs.append(feat)
        for i in (2, 3, 4):
            tokens, h, w = getattr(self, f"patch_embed{i}")(feat)
            fused = _tokens_to_map(tokens, h, w) + patch
            if i < 4:
                mini, mh, mw = getattr(self, f"mini_patch_embed{i}")(fused)
            feat = self._run(getattr(self, f"block{i}"), getattr(self, f"norm{i}"),
                             fused.flatten(2).transpose(1, 2), h, w)
            outs.append(feat)
            if i < 4:
                patch = self._run(getattr(self, f"patch_block{i}"), getattr(self, f"pnorm{i}"),
                                  mini, mh, mw)
        return outs


class DecoderTransformer(nn.Module):
    """``Tdec``: embed the 1/32 map to 1/64 (stride 2), then query blocks; returns ``[map]``."""

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float, depth: int, num_queries: int,
        drop_path_rate: float,
    ) -> None:
        super().__init__()
        self.patch_embed1 = OverlapPatchEmbed(3, 2, dim, dim)
        dpr = torch.linspace(0, drop_path_rate, max(_DEC_DPR_SPAN, depth), device="cpu").tolist()
        self.block1 = nn.ModuleList(
            [Block(dim, num_heads, mlp_ratio, 1, dpr[j], decoder=True, num_queries=num_queries)
             for j in range(depth)]
        )
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.apply(_init_weights)

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        x, h, w = self.patch_embed1(feats[3])
        for blk in self.block1:
            x = blk(x, h, w)
        return [_tokens_to_map(self.norm1(x), h, w)]


class ConvLayer(nn.Module):
    """A plain Conv2d (zero padding), kept under the authors' name ``conv2d``."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, padding: int = 1):
        super().__init__()
        self.conv2d = nn.Conv2d(cin, cout, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(x)


class UpsampleConvLayer(nn.Module):
    """ConvTranspose2d kernel 4, stride 2, padding 1 (exact x2), under the name ``conv2d``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv2d = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(x)


class ResidualBlock(nn.Module):
    """``x + 0.1 * conv2(relu(conv1(x)))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.conv2 = ConvLayer(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * self.conv2(F.relu(self.conv1(x)))


class ConvProjection(nn.Module):
    """``convtail``: x2 transposed convs from 1/64 to full resolution with encoder skips.

    At 1/32 and 1/16 the upsampled map is cropped to the skip's size when it is one larger
    (odd sizes of the encoder maps). Output: ``tail_dims[-1]`` channels at full resolution.
    """

    def __init__(
        self, embed_dims: Sequence[int], tail_dims: Sequence[int], with_unused: bool = True
    ) -> None:
        super().__init__()
        d, t = list(embed_dims), list(tail_dims)
        self.convd32x = UpsampleConvLayer(d[3], d[3])
        self.convd16x = UpsampleConvLayer(d[3], d[2])
        self.dense_4 = nn.Sequential(ResidualBlock(d[2]))
        self.convd8x = UpsampleConvLayer(d[2], d[1])
        self.dense_3 = nn.Sequential(ResidualBlock(d[1]))
        self.convd4x = UpsampleConvLayer(d[1], d[0])
        self.dense_2 = nn.Sequential(ResidualBlock(d[0]))
        self.convd2x = UpsampleConvLayer(d[0], t[0])
        self.dense_1 = nn.Sequential(ResidualBlock(t[0]))
        self.convd1x = UpsampleConvLayer(t[0], t[1])
        if with_unused:  # present in the official checkpoint, never used by its forward
            self.conv_output = ConvLayer(t[1], 3, 3)

    @staticmethod
    def _fit(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return x[..., : ref.shape[-2], : ref.shape[-1]]

    def forward(self, enc: Sequence[torch.Tensor], dec: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self._fit(self.convd32x(dec[0]), enc[3]) + enc[3]
        x = self._fit(self.convd16x(x), enc[2])
        x = self.convd8x(self.dense_4(x) + enc[2])
        x = self.convd4x(self.dense_3(x) + enc[1])
        x = self.convd2x(self.dense_2(x) + enc[0])
        return self.convd1x(self.dense_1(x))


@MODELS.register("transweather")
class TransWeather(nn.Module):
    """TransWeather; [0, 1] in, Tanh output (in [0, 1) once trained), any H x W.

    Args:
        art_variant: drop the two never-used modules (Art/TUR copy, transweather_art.json).
        embed_dims, num_heads, mlp_ratios, depths, sr_ratios, drop_path_rate: encoder
            (official: (64, 128, 320, 512), (1, 2, 4, 4), (2, 2, 2, 2), (2, 2, 2, 2),
            (4, 2, 2, 1), 0.1).
        dec_heads, dec_mlp_ratio, dec_depth, num_queries, dec_drop_path_rate: decoder
            (official: 8, 4, 3, 48 weather-type queries, 0.1).
        tail_dims: channels of the last two upsampling steps (official (16, 8)).
        pad_multiple, min_size: internal reflect padding (16 and 48: what the official network
            accepts; Art's test pads to 64). Below 128 px some attentions see a single key token
            (the decoder's 1/64 map is 1x1 at 48 px), so their query projections get no
            gradient: a property of the architecture, visible only on tiny inputs.
    """

    uem_tap = "convtail"

    def __init__(
        self, art_variant: bool = False,
        embed_dims: Sequence[int] = (64, 128, 320, 512), num_heads: Sequence[int] = (1, 2, 4, 4),
        mlp_ratios: Sequence[float] = (2, 2, 2, 2), depths: Sequence[int] = (2, 2, 2, 2),
        sr_ratios: Sequence[int] = (4, 2, 2, 1), drop_path_rate: float = 0.1,
        dec_heads: int = 8, dec_mlp_ratio: float = 4, dec_depth: int = 3, num_queries: int = 48,
        dec_drop_path_rate: float = 0.1, tail_dims: Sequence[int] = (16, 8),
        pad_multiple: int = 16, min_size: int = 48,
    ) -> None:
        super().__init__()
        if pad_multiple % 16:
            raise ValueError(f"pad_multiple must be a multiple of 16, got {pad_multiple}")
        self.art_variant = art_variant
        self.pad_multiple, self.min_size = pad_multiple, max(min_size, 48)
        self.uem_channels = int(tail_dims[-1])
        self.Tenc = EncoderTransformer(
            embed_dims, num_heads, mlp_ratios, depths, sr_ratios, drop_path_rate,
            with_unused=not art_variant,
        )
        self.Tdec = DecoderTransformer(
            embed_dims[3], dec_heads, dec_mlp_ratio, dec_depth, num_queries, dec_drop_path_rate
        )
        self.convtail = ConvProjection(embed_dims, tail_dims, with_unused=not art_variant)
        self.clean = ConvLayer(tail_dims[-1], 3, 3)
        self.active = nn.Tanh()
        #: parameters in the official state dict that its forward never uses (no gradient)
        self.unused_in_forward: list[str] = [
            n for n, _ in self.named_parameters()
            if n.startswith(("Tenc.mini_patch_embed4.", "convtail.conv_output."))
        ]

    @staticmethod
    def options_from_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
        """Widths, depths, MLP ratios, spatial-reduction ratios, decoder depth, queries and tail
        widths read off a checkpoint. The attention heads (``num_heads``, ``dec_heads``) leave no
        trace in the weights: they keep the official values unless given."""
        dims = [int(state[f"Tenc.patch_embed{i}.proj.weight"].shape[0]) for i in (1, 2, 3, 4)]
        depths = [count_indexed(state, f"Tenc.block{i}") for i in (1, 2, 3, 4)]
        ratios = [state[f"Tenc.block{i}.0.mlp.fc1.weight"].shape[0] / d
                  for i, d in zip((1, 2, 3, 4), dims)]
        srs = [int(state[f"Tenc.block{i}.0.attn.sr.weight"].shape[-1])
               if f"Tenc.block{i}.0.attn.sr.weight" in state else 1 for i in (1, 2, 3, 4)]
        dec_fc1 = state["Tdec.block1.0.mlp.fc1.weight"]
        return {
            "embed_dims": dims, "depths": depths,
            "mlp_ratios": [int(r) if float(r).is_integer() else r for r in ratios],
            "sr_ratios": srs, "dec_depth": count_indexed(state, "Tdec.block1"),
            "dec_mlp_ratio": int(dec_fc1.shape[0] // dec_fc1.shape[1])
            if dec_fc1.shape[0] % dec_fc1.shape[1] == 0 else dec_fc1.shape[0] / dec_fc1.shape[1],
            "num_queries": int(state["Tdec.block1.0.attn.task_query"].shape[1]),
            "tail_dims": [int(state["convtail.convd2x.conv2d.weight"].shape[1]),
                          int(state["convtail.convd1x.conv2d.weight"].shape[1])],
        }

    @staticmethod
    def normalize(x: torch.Tensor) -> torch.Tensor:
        """[0, 1] -> [-1, 1]: ``(x - 0.5) / 0.5``, the input the authors' network was trained on."""
        return (x - 0.5) / 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restore ``x`` (B, 3, H, W) in [0, 1]; returns the Tanh output cropped to H x W."""
        xp, (h, w) = pad_to_multiple(x, self.pad_multiple, minimum=self.min_size)
        enc = self.Tenc(self.normalize(xp))
        dec = self.Tdec(enc)
        out = self.active(self.clean(self.convtail(enc, dec)))
        return crop_to(out, h, w)


@MODELS.register("transweather_art")
def transweather_art(**options: object) -> TransWeather:
    """TransWeather as the Art/TUR code base defines it (``art_variant=True``)."""
    options.setdefault("art_variant", True)
    return TransWeather(**options)  # type: ignore[arg-type]


# it takes TransWeather's options: say so, so that option names are checked against them
transweather_art.__signature__ = inspect.signature(TransWeather)  # type: ignore[attr-defined]
transweather_art.options_from_state_dict = TransWeather.options_from_state_dict  # type: ignore[attr-defined]


TEST_OPTIONS["transweather"] = {
    "embed_dims": (8, 16, 24, 32), "num_heads": (1, 2, 2, 2), "depths": (1, 1, 1, 1),
    "dec_heads": 2, "dec_depth": 1, "num_queries": 4, "tail_dims": (8, 4),
    "drop_path_rate": 0.0, "dec_drop_path_rate": 0.0,
    # at the official minimum (48 px) several attentions see one key token (1/64 decoder map is
    # 1x1), so their queries get no gradient; 128 px gives every attention >= 2 keys
    "min_size": 128,
}
TEST_OPTIONS["transweather_art"] = dict(TEST_OPTIONS["transweather"])
