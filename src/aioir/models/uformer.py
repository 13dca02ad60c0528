"""``uformer``: Uformer (Wang et al., CVPR 2022) as MiOIR / TUR / Art run it (Uformer-B).

A U-shaped Transformer of locally-enhanced window (LeWin) blocks: ``input_proj`` (3x3 conv +
LeakyReLU) turns the image into tokens; each encoder level is a stack of LeWin blocks followed by
a 4x4 stride-2 conv (``dowsample_i``, the authors' spelling) that doubles the channels; the
bottleneck (``conv``) is another stack; each decoder level upsamples with a 2x2 transposed conv
(``upsample_i``), concatenates the encoder tokens of that scale and runs a stack of blocks with
the learned window modulator. ``output_proj`` (3x3 conv, ``2 * embed_dim -> 3``) maps the last
decoder tokens to a residual: ``y = x + output_proj(tokens)``. See
:mod:`aioir.models.uformer_blocks` for the blocks.

Defaults are Uformer-B (embed 32, depths [1,2,8,8,2,8,8,2,1], heads [1,2,4,8,16,16,8,4,2],
window 8, LeFF, modulator, shifted windows on odd blocks, drop-path 0.1, nominal ``img_size``
256): 50,880,946 parameters plus 40 ``relative_position_index`` buffers, the same state-dict keys
and shapes as the authors' class, so their checkpoints load strictly.

Input size: every level must hold a whole number of windows, so the image is reflect-padded at
the bottom/right to a multiple of ``pad_multiple`` (default ``win_size * 2**levels`` = 128, as
MiOIR) and then to a square (MiOIR pads the short side symmetrically; here all padding is at the
bottom/right so the tapped feature stays top-left aligned with the input) and cropped back.

>>> import torch
>>> net = Uformer(embed_dim=4, depths=[1, 2, 1], num_heads=[1, 2, 1], win_size=2, img_size=8)
>>> net(torch.rand(1, 3, 5, 7)).shape
torch.Size([1, 3, 5, 7])
>>> net.uem_tap, net.uem_channels, net.pad_multiple
('tap', 8, 4)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from aioir.models import MODELS, TEST_OPTIONS
from aioir.models.padding import crop_to, pad_to_multiple
from aioir.models.uformer_blocks import (
    BasicUformerLayer,
    Downsample,
    InputProj,
    OutputProj,
    Upsample,
)


def drop_path_schedule(depths: Sequence[int], rate: float) -> list[list[float]]:
    """Per-layer stochastic-depth rates, the authors' schedule.

    Encoder blocks: ``linspace(0, rate, #encoder blocks)`` in order; bottleneck blocks: ``rate``;
    decoder blocks: the encoder list reversed, consumed in order. Returns one list per layer
    (encoders, bottleneck, decoders).
    """
    n = len(depths) // 2
    num_enc = sum(depths[:n])
    if sum(depths[n + 1 :]) > num_enc:
        raise ValueError(
            "the decoder reuses the encoder's drop-path schedule: it needs no more blocks"
        )
    enc = torch.linspace(0, rate, num_enc, device="cpu").tolist() if num_enc else []
    dec = enc[::-1]
    layers, start = [], 0
    for d in depths[:n]:
        layers.append(enc[start : start + d])
        start += d
    layers.append([rate] * depths[n])
    start = 0
    for d in depths[n + 1 :]:
        layers.append(dec[start : start + d])
        start += d
    return layers


@MODELS.register("uformer")
class Uformer(nn.Module):
    """Uformer with the authors' module names (defaults: Uformer-B as MiOIR trains it).

    Args:
        embed_dim: token channels at full resolution (doubled per level).
        depths: LeWin blocks per layer, ``2 * levels + 1`` entries (encoders, bottleneck, decoders).
        num_heads: attention heads per layer (same length as ``depths``).
        win_size: attention window side.
        mlp_ratio: LeFF hidden width / token channels.
        qkv_bias: biases in the q/kv projections.
        drop_rate, attn_drop_rate: dropout after projections / on attention weights (0 in MiOIR).
        drop_path_rate: maximum stochastic-depth rate (0.1, the authors' default); eval is
            deterministic.
        img_size: nominal training size; a level whose nominal side ``img_size / 2**level`` fits in
            one window uses that side as window and no shift (the authors' rule; MiOIR keeps 256).
        shift_flag: shift the windows of odd-indexed blocks by ``win_size // 2``.
        modulator: learned window modulator in the decoder blocks.
        pad_multiple: inputs are padded to a multiple of this (default ``win_size * 2**levels``).
        square: also pad to a square (every Uformer release was trained on square crops).
        in_chans: image channels.
    """

    uem_tap = "tap"

    def __init__(
        self,
        embed_dim: int = 32,
        depths: Sequence[int] = (1, 2, 8, 8, 2, 8, 8, 2, 1),
        num_heads: Sequence[int] = (1, 2, 4, 8, 16, 16, 8, 4, 2),
        win_size: int = 8,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        img_size: int = 256,
        shift_flag: bool = True,
        modulator: bool = True,
        pad_multiple: int | None = None,
        square: bool = True,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if len(depths) % 2 != 1 or len(num_heads) != len(depths):
            raise ValueError("depths and num_heads need the same odd length (2 * levels + 1)")
        n = len(depths) // 2
        self.levels = n
        self.square = square
        dpr = drop_path_schedule(depths, drop_path_rate)
        common = dict(
            mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate, attn_drop=attn_drop_rate
        )

        def layer(index: int, dim: int, level: int, mod: bool) -> BasicUformerLayer:
            return BasicUformerLayer(
                dim,
                depths[index],
                num_heads[index],
                win_size,
                img_size // 2**level,
                dpr[index],
                shift_flag=shift_flag,
                modulator=mod,
                **common,
            )

        self.input_proj = InputProj(in_chans, embed_dim)
        self.output_proj = OutputProj(2 * embed_dim, in_chans)
        self.pos_drop = nn.Dropout(drop_rate)
        for i in range(n):
            dim = embed_dim * 2**i
            setattr(self, f"encoderlayer_{i}", layer(i, dim, i, False))
            setattr(self, f"dowsample_{i}", Downsample(dim, 2 * dim))
        self.conv = layer(n, embed_dim * 2**n, n, False)
        for i in range(n):
            level = n - 1 - i
            in_dim = embed_dim * 2**n if i == 0 else embed_dim * 2 ** (level + 2)
            setattr(self, f"upsample_{i}", Upsample(in_dim, embed_dim * 2**level))
            dec = layer(n + 1 + i, embed_dim * 2 ** (level + 1), level, modulator)
            setattr(self, f"decoderlayer_{i}", dec)
        self.tap = nn.Identity()
        self.uem_channels = 2 * embed_dim

        self.pad_multiple = win_size * 2**n if pad_multiple is None else int(pad_multiple)
        for i, name in enumerate([f"encoderlayer_{j}" for j in range(n)] + ["conv"]):
            side = self.pad_multiple // 2**i
            win = getattr(self, name).win
            if self.pad_multiple % 2**i or side % win:
                raise ValueError(
                    f"pad_multiple {self.pad_multiple} must give level {i} a multiple of its "
                    f"window {win}"
                )
        self.apply(_init_weights)

    @staticmethod
    def options_from_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
        """Architecture read off a checkpoint: width, depths, heads, window, modulator.

        ``img_size`` (which decides where small levels drop the shift) and the padding are not
        recorded in a checkpoint and keep their defaults. Used by
        :func:`aioir.models.load_pretrained`.
        """
        first_norm = re.compile(r"encoderlayer_\d+\.blocks\.0\.norm1\.weight")
        n = sum(1 for k in state if first_norm.fullmatch(k))
        names = [f"encoderlayer_{i}" for i in range(n)] + ["conv"]
        names += [f"decoderlayer_{i}" for i in range(n)]
        depths, heads = [], []
        for name in names:
            block = re.compile(rf"{name}\.blocks\.(\d+)\.")
            ids = {int(m.group(1)) for k in state if (m := block.match(k))}
            depths.append(max(ids) + 1)
            heads.append(int(state[f"{name}.blocks.0.attn.relative_position_bias_table"].shape[1]))
        table = int(state["encoderlayer_0.blocks.0.attn.relative_position_bias_table"].shape[0])
        return {
            "embed_dim": int(state["input_proj.proj.0.weight"].shape[0]),
            "in_chans": int(state["input_proj.proj.0.weight"].shape[1]),
            "depths": depths,
            "num_heads": heads,
            "win_size": (round(table**0.5) + 1) // 2,
            "mlp_ratio": state["conv.blocks.0.mlp.linear1.0.weight"].shape[0]
            / state["conv.blocks.0.mlp.linear1.0.weight"].shape[1],
            "modulator": "decoderlayer_0.blocks.0.modulator.weight" in state,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_to_multiple(x, self.pad_multiple, mode="reflect", square=self.square)
        height, width = xp.shape[-2:]
        sizes = [(height >> i, width >> i) for i in range(self.levels + 1)]
        tokens = self.pos_drop(self.input_proj(xp))
        skips = []
        for i in range(self.levels):
            tokens = getattr(self, f"encoderlayer_{i}")(tokens, *sizes[i])
            skips.append(tokens)
            tokens = getattr(self, f"dowsample_{i}")(tokens, *sizes[i])
        tokens = self.conv(tokens, *sizes[self.levels])
        for i in range(self.levels):
            level = self.levels - 1 - i
            tokens = getattr(self, f"upsample_{i}")(tokens, *sizes[level + 1])
            tokens = torch.cat([tokens, skips[level]], dim=-1)
            tokens = getattr(self, f"decoderlayer_{i}")(tokens, *sizes[level])
        feat = tokens.transpose(1, 2).reshape(x.shape[0], -1, height, width)
        out = xp + self.output_proj(self.tap(feat))
        return crop_to(out, h, w)


def _init_weights(module: nn.Module) -> None:
    """The authors' init: linear weights ~ truncated N(0, 0.02), zero biases; LayerNorm (1, 0)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


TEST_OPTIONS["uformer"] = {
    "embed_dim": 8,
    "depths": [1, 2, 1, 2, 1],
    "num_heads": [1, 2, 4, 2, 1],
    "win_size": 4,
    "img_size": 32,
}
