"""``nafnet``: NAFNet, the nonlinear-activation-free baseline (Chen et al., ECCV 2022).

A U-Net of NAF blocks. Each block is two residual branches scaled by learnable per-channel
factors that start at zero (``beta``, ``gamma``), so a freshly built network is the identity plus
the ``intro``/``ending`` convs:

* spatial branch: LayerNorm2d -> 1x1 conv (c -> 2c) -> depthwise 3x3 -> SimpleGate (c) ->
  simplified channel attention (global average pool, 1x1 conv, multiply) -> 1x1 conv;
* channel branch: LayerNorm2d -> 1x1 conv (c -> 2c) -> SimpleGate -> 1x1 conv.

Each encoder level ends in a stride-2 2x2 conv that doubles the channels, each decoder level
starts with a 1x1 conv (no bias) and ``PixelShuffle(2)`` and adds the encoder skip. The output is
``ending(features) + x``; the input is zero-padded at the bottom/right to a multiple of
``2 ** levels`` (16 for four levels) and the result cropped back, exactly as the authors do.

Parameter and buffer names follow the authors' ``NAFNet`` class, so their released
``{'params': state_dict}`` checkpoints load strictly (GoPro w32: 17,111,907 parameters; w64:
67,888,835; SIDD w32 with ``enc_blk_nums=[2, 2, 4, 8]``, ``middle_blk_num=12``,
``dec_blk_nums=[2, 2, 2, 2]``: 29,159,715).

>>> import torch
>>> net = NAFNet(width=8, enc_blk_nums=[1, 1], middle_blk_num=1, dec_blk_nums=[1, 1])
>>> net(torch.rand(1, 3, 13, 10)).shape
torch.Size([1, 3, 13, 10])
>>> net.uem_tap, net.uem_channels
('decoders.1', 8)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn

from aioir.models import MODELS, TEST_OPTIONS
from aioir.models.padding import crop_to, pad_to_multiple


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channel axis of a BCHW tensor, per pixel.

    ``y = weight * (x - mean_c(x)) / sqrt(var_c(x) + eps) + bias`` (biased variance), the
    channels-first equivalent of ``nn.LayerNorm(C)`` applied to every pixel's channel vector.

    >>> import torch
    >>> norm = LayerNorm2d(4)
    >>> y = norm(torch.rand(2, 4, 3, 3))
    >>> bool(y.mean(1).abs().max() < 1e-5)
    True
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight.view(1, -1, 1, 1) * y + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """Split the channels in two halves and multiply them: ``(B, 2c, H, W) -> (B, c, H, W)``.

    >>> import torch
    >>> SimpleGate()(torch.tensor([2.0, 3.0]).view(1, 2, 1, 1)).flatten().tolist()
    [6.0]
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """One NAF block on ``channels`` features (see the module docstring).

    Args:
        channels: input/output channels ``c``.
        dw_expand: expansion of the spatial branch (``c -> dw_expand * c`` before the gate).
        ffn_expand: expansion of the channel branch.
        drop_out_rate: dropout after each branch (0 = none, the authors' setting).

    >>> import torch
    >>> x = torch.rand(1, 8, 5, 5)
    >>> torch.equal(NAFBlock(8)(x), x)  # beta = gamma = 0 at initialisation
    True
    """

    def __init__(
        self, channels: int, dw_expand: int = 2, ffn_expand: int = 2, drop_out_rate: float = 0.0
    ) -> None:
        super().__init__()
        c = channels
        dw = c * dw_expand
        ffn = c * ffn_expand
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.sg = SimpleGate()
        self.conv4 = nn.Conv2d(c, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.dropout1 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.dropout2 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.sg(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        y = inp + self.dropout1(x) * self.beta
        x = self.conv5(self.sg(self.conv4(self.norm2(y))))
        return y + self.dropout2(x) * self.gamma


def _stage(channels: int, num_blocks: int, drop_out_rate: float) -> nn.Sequential:
    blocks = [NAFBlock(channels, drop_out_rate=drop_out_rate) for _ in range(num_blocks)]
    return nn.Sequential(*blocks)


@MODELS.register("nafnet")
class NAFNet(nn.Module):
    """NAFNet with the authors' parameter names (defaults: the GoPro width-32 configuration).

    Args:
        width: channels at full resolution (doubled at every encoder level).
        enc_blk_nums: NAF blocks per encoder level (its length is the number of levels).
        middle_blk_num: NAF blocks at the bottleneck.
        dec_blk_nums: NAF blocks per decoder level (same length as ``enc_blk_nums``).
        img_channel: image channels in and out.
        drop_out_rate: dropout inside the blocks (0 in every released model).

    ``uem_tap`` is the last decoder level (full resolution, ``width`` channels), the feature the
    ``ending`` conv turns into the residual image.
    """

    def __init__(
        self,
        width: int = 32,
        enc_blk_nums: Sequence[int] = (1, 1, 1, 28),
        middle_blk_num: int = 1,
        dec_blk_nums: Sequence[int] = (1, 1, 1, 1),
        img_channel: int = 3,
        drop_out_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if len(enc_blk_nums) != len(dec_blk_nums) or not enc_blk_nums:
            raise ValueError(
                f"enc_blk_nums {list(enc_blk_nums)} and dec_blk_nums {list(dec_blk_nums)} must be "
                "non-empty and of equal length"
            )
        self.intro = nn.Conv2d(img_channel, width, 3, padding=1)
        self.ending = nn.Conv2d(width, img_channel, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        chan = width
        for num in enc_blk_nums:
            self.encoders.append(_stage(chan, num, drop_out_rate))
            self.downs.append(nn.Conv2d(chan, 2 * chan, 2, stride=2))
            chan *= 2
        self.middle_blks = _stage(chan, middle_blk_num, drop_out_rate)
        for num in dec_blk_nums:
            up = nn.Sequential(nn.Conv2d(chan, 2 * chan, 1, bias=False), nn.PixelShuffle(2))
            self.ups.append(up)
            chan //= 2
            self.decoders.append(_stage(chan, num, drop_out_rate))
        self.padder_size = 2 ** len(enc_blk_nums)
        self.uem_tap = f"decoders.{len(dec_blk_nums) - 1}"
        self.uem_channels = width

    @staticmethod
    def options_from_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
        """Layout read off a checkpoint: width and blocks per level (GoPro, REDS, SIDD releases).

        Used by :func:`aioir.models.load_pretrained`, so any released NAFNet loads by name alone.
        """
        blocks: dict[str, dict[int, int]] = {"encoders": {}, "decoders": {}, "middle_blks": {}}
        for key in state:
            m = re.match(r"(encoders|decoders)\.(\d+)\.(\d+)\.", key) or re.match(
                r"(middle_blks)\.()(\d+)\.", key
            )
            if m:
                level = int(m.group(2) or 0)
                count = blocks[m.group(1)]
                count[level] = max(count.get(level, 0), int(m.group(3)) + 1)
        levels = sum(1 for k in state if re.fullmatch(r"downs\.\d+\.weight", k))
        return {
            "width": int(state["intro.weight"].shape[0]),
            "enc_blk_nums": [blocks["encoders"].get(i, 0) for i in range(levels)],
            "middle_blk_num": blocks["middle_blks"].get(0, 0),
            "dec_blk_nums": [blocks["decoders"].get(i, 0) for i in range(levels)],
            "img_channel": int(state["intro.weight"].shape[1]),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inp, (h, w) = pad_to_multiple(x, self.padder_size, mode="constant")
        feat = self.intro(inp)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            feat = encoder(feat)
            skips.append(feat)
            feat = down(feat)
        feat = self.middle_blks(feat)
        for decoder, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            feat = decoder(up(feat) + skip)
        return crop_to(self.ending(feat) + inp, h, w)


TEST_OPTIONS["nafnet"] = {
    "width": 8,
    "enc_blk_nums": [1, 1],
    "middle_blk_num": 1,
    "dec_blk_nums": [1, 1],
}
