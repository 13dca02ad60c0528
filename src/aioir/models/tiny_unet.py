"""``tiny_unet``: a compact U-shaped network for CPU training (the demo's backbone).

Three levels of residual blocks with channel attention (squeeze-excitation: a global average
pool feeds every block, so low light and haze, which need image-wide statistics, are in reach),
a bottleneck with a global context branch, pixel-shuffle upsampling, additive skips, and a
residual output ``y = x + conv(features)``. The output conv is zero-initialised by default
(``identity_init``) so training starts from the identity map, which protects the easy tasks early
in short runs. About 0.5 M parameters at ``width=24``.

With ``global_tone=True`` (the demo's setting) a global head reads the pooled bottleneck features
and predicts, per image and channel, a gamma ``g``, a gain ``a`` and an offset ``b``; the output
becomes ``y = a * x**g + b + conv(features)``. Low light (``x**gamma``) and thin haze
(``J*T + A*(1-T)``, affine in ``J`` where the depth varies slowly) are image-wide tone changes
that this head can undo with a few numbers, so the local branch is not pulled towards global
shifts that damage the tasks that need none. The head's last layer is zero-initialised:
``g = a = 1, b = 0``, the identity.

>>> import torch
>>> net = TinyUNet()
>>> sum(p.numel() for p in net.parameters()) < 1_000_000
True
>>> net(torch.rand(2, 3, 30, 19)).shape
torch.Size([2, 3, 30, 19])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn as nn

from aioir.models import MODELS, TEST_OPTIONS
from aioir.models.padding import crop_to, pad_to_multiple
from aioir.models.pretrained import count_indexed


class SqueezeExcite(nn.Module):
    """Channel attention from global average pooling."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.GELU(),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x)


class ResBlock(nn.Module):
    """conv3x3 - GELU - conv3x3 - squeeze-excite, plus the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            SqueezeExcite(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class GlobalTone(nn.Module):
    """Per-image, per-channel tone curve ``a * x**g + b`` predicted from pooled features."""

    def __init__(self, channels: int, out_channels: int = 3) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.mlp = nn.Sequential(
            nn.Linear(2 * channels, channels), nn.GELU(), nn.Linear(channels, 3 * out_channels)
        )
        last = self.mlp[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, feat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        stats = torch.cat([feat.mean(dim=(2, 3)), feat.amax(dim=(2, 3))], 1)
        log_g, log_a, b = self.mlp(stats).view(-1, 3, self.out_channels, 1, 1).unbind(1)
        g = torch.exp(log_g.clamp(-3.0, 3.0))
        return torch.exp(log_a.clamp(-3.0, 3.0)) * x.clamp(min=1e-6).pow(g) + b


class GlobalContext(nn.Module):
    """Adds an image-wide vector (pooled, transformed) to every position: a global receptive field."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 1), nn.GELU(), nn.Conv2d(channels, channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = torch.cat([x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)], 1)
        return x + self.mlp(stats)


def add_unet_trunk(net: nn.Module, in_channels: int, width: int, blocks: int,
                   context: Callable[[int], nn.Module]) -> None:
    """Give ``net`` the 3-level U-Net trunk both compact backbones share (``tiny_unet`` and
    ``aware_unet``): ``head``, ``enc1``, ``down1``, ``enc2``, ``down2``, ``middle`` (a residual
    block, ``context``, a residual block), ``up2``, ``dec2``, ``up1``, ``dec1``; widths
    ``width``, ``2 width``, ``4 width``; ``context(4 width)`` builds the middle's context block.
    Built in this order, so a seed gives the same weights and the parameter names are the
    checkpoints' (:func:`encode_unet` runs the encoder).

    >>> net = nn.Module()
    >>> add_unet_trunk(net, 3, 8, 1, lambda channels: nn.Identity())
    >>> [name for name, _ in net.named_children()][:4], net.middle[0].body[0].in_channels
    (['head', 'enc1', 'down1', 'enc2'], 32)
    """
    c1, c2, c3 = width, 2 * width, 4 * width
    net.head = nn.Conv2d(in_channels, c1, 3, padding=1)
    net.enc1 = nn.Sequential(*[ResBlock(c1) for _ in range(blocks)])
    net.down1 = nn.Conv2d(c1, c2, 2, stride=2)
    net.enc2 = nn.Sequential(*[ResBlock(c2) for _ in range(blocks)])
    net.down2 = nn.Conv2d(c2, c3, 2, stride=2)
    net.middle = nn.Sequential(ResBlock(c3), context(c3), ResBlock(c3))
    net.up2 = nn.Sequential(nn.Conv2d(c3, c2 * 4, 1), nn.PixelShuffle(2))
    net.dec2 = nn.Sequential(*[ResBlock(c2) for _ in range(blocks)])
    net.up1 = nn.Sequential(nn.Conv2d(c2, c1 * 4, 1), nn.PixelShuffle(2))
    net.dec1 = nn.Sequential(*[ResBlock(c1) for _ in range(blocks)])


def encode_unet(net: Any, x: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The trunk's encoder features ``(f1, f2, f3)`` at full, half and quarter resolution
    (``net``: any module :func:`add_unet_trunk` built the trunk on)."""
    f1 = net.enc1(net.head(x))
    f2 = net.enc2(net.down1(f1))
    return f1, f2, net.middle(net.down2(f2))


@MODELS.register("tiny_unet")
class TinyUNet(nn.Module):
    """Compact 3-level U-Net with global context.

    Args:
        width: channels at full resolution (doubled per level).
        blocks: residual blocks per level (encoder and decoder each).
        identity_init: zero-initialise the output conv so the network starts as the identity.
        in_channels: image channels.
        global_tone: add the global tone head (see the module docstring).
    """

    # the trunk add_unet_trunk() builds
    head: nn.Conv2d
    enc1: nn.Sequential
    down1: nn.Conv2d
    enc2: nn.Sequential
    down2: nn.Conv2d
    middle: nn.Sequential
    up2: nn.Sequential
    dec2: nn.Sequential
    up1: nn.Sequential
    dec1: nn.Sequential

    uem_tap = "tap"

    def __init__(
        self,
        width: int = 24,
        blocks: int = 1,
        identity_init: bool = True,
        in_channels: int = 3,
        global_tone: bool = False,
    ) -> None:
        super().__init__()
        c1, c3 = width, 4 * width
        self.uem_channels = c1
        add_unet_trunk(self, in_channels, width, blocks, GlobalContext)
        self.tone = GlobalTone(c3, in_channels) if global_tone else None
        self.tap = nn.Identity()
        self.tail = nn.Conv2d(c1, in_channels, 3, padding=1)
        if identity_init:
            nn.init.zeros_(self.tail.weight)
            assert self.tail.bias is not None  # built with a bias
            nn.init.zeros_(self.tail.bias)

    @staticmethod
    def options_from_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
        """Width, blocks per level, channels and the tone head, read off a state dict."""
        head = state["head.weight"]
        return {"width": int(head.shape[0]), "blocks": count_indexed(state, "enc1"),
                "in_channels": int(head.shape[1]), "global_tone": "tone.mlp.0.weight" in state}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_to_multiple(x, 4)
        f1, f2, f3 = encode_unet(self, xp)
        d2 = self.dec2(self.up2(f3) + f2)
        d1 = self.dec1(self.up1(d2) + f1)
        base = xp if self.tone is None else self.tone(f3, xp)
        out = base + self.tail(self.tap(d1))
        return crop_to(out, h, w)


TEST_OPTIONS["tiny_unet"] = {"width": 8, "blocks": 1, "global_tone": True}
