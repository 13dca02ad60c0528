"""``srresnet``: the SRResNet of MiOIR (Kong, Dong, Zhang 2024), used by TUR and Art at scale 1.

A BasicSR "modified SRResNet" without upsampler: ``conv_first`` + LeakyReLU(0.1), a body of
residual blocks without batch norm (conv - ReLU - conv, plus the input), then
``conv_last(LeakyReLU(conv_hr(body)))`` added to the input image. There is no long skip around
the body and no output activation. All convolutions are 3x3, stride 1, so any ``H x W`` works and
no padding is needed. With the defaults (64 features, 16 blocks) it has exactly 1,222,147
parameters and the key names of the released MiOIR/TUR/Art checkpoints.

Initialisation follows BasicSR: Kaiming-normal weights scaled by 0.1 and zero biases for every
convolution (``conv_first``, ``conv_hr``, ``conv_last`` and the residual blocks).

The uncertainty tap (``uem_tap = "body"``) is the 64-channel output of the residual body, as in
TUR's code (FACTS.md section 1).

>>> import torch
>>> net = SRResNet(num_feat=8, num_block=2)
>>> net(torch.rand(1, 3, 9, 7)).shape
torch.Size([1, 3, 9, 7])
>>> net.get_submodule(net.uem_tap)(torch.rand(1, 8, 4, 4)).shape
torch.Size([1, 8, 4, 4])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn as nn

from aioir.models import MODELS, TEST_OPTIONS
from aioir.models.pretrained import count_indexed


def scaled_kaiming_(modules: list[nn.Module], scale: float) -> None:
    """BasicSR's ``default_init_weights``: Kaiming-normal conv weights times ``scale``, zero bias."""
    with torch.no_grad():
        for module in modules:
            for m in module.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight)
                    m.weight.mul_(scale)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)


class ResidualBlockNoBN(nn.Module):
    """``x + conv2(ReLU(conv1(x)))`` (times ``res_scale``), no batch norm."""

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU()
        scaled_kaiming_([self.conv1, self.conv2], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(self.relu(self.conv1(x)))


@MODELS.register("srresnet")
class SRResNet(nn.Module):
    """MiOIR's scale-1 SRResNet: ``y = x + conv_last(lrelu(conv_hr(body(lrelu(conv_first(x))))))``.

    Args:
        num_in_ch: input channels.
        num_out_ch: output channels (must equal ``num_in_ch`` for the residual to the input).
        num_feat: feature channels.
        num_block: residual blocks in the body.

    >>> sum(p.numel() for p in SRResNet(num_feat=4, num_block=1).parameters())
    667
    """

    uem_tap = "body"
    #: modules MiOIR's prompted variants (SRResNet_EP / _AP) leave at PyTorch's default init:
    #: they skip the scaled Kaiming init of these three (``aioir.models.prompt`` resets them)
    prompt_default_init = ("conv_first", "conv_hr", "conv_last")

    def __init__(
        self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16
    ) -> None:
        super().__init__()
        if num_in_ch != num_out_ch:
            raise ValueError("srresnet adds its input to the output: num_in_ch must equal num_out_ch")
        self.uem_channels = num_feat
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1)
        scaled_kaiming_([self.conv_first, self.conv_hr, self.conv_last], 0.1)

    @staticmethod
    def options_from_state_dict(state: Mapping[str, Any]) -> dict[str, int]:
        """Width, block count and channels read off a checkpoint (MiOIR/TUR/Art releases)."""
        first, last = state["conv_first.weight"], state["conv_last.weight"]
        return {"num_in_ch": int(first.shape[1]), "num_out_ch": int(last.shape[0]),
                "num_feat": int(first.shape[0]), "num_block": count_indexed(state, "body")}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.body(self.lrelu(self.conv_first(x)))
        return x + self.conv_last(self.lrelu(self.conv_hr(feat)))


TEST_OPTIONS["srresnet"] = {"num_feat": 8, "num_block": 2}
