"""The frequency-domain L1 loss of the diffusion paradigm's released code (EEDTP ``fftLoss``).

``mean(|FFT2(pred) - FFT2(gt)|)``: the mean, over every batch element, channel and frequency,
of the modulus of the difference of the 2-D discrete Fourier transforms (unnormalised,
``torch.fft.fft2`` over the last two dimensions). EEDTP adds it to the fine-tuning loss with
weight 0.1 (``--lambda_fft 0.1``); in aioir it is the extra loss ``fft``
(``train.extra_losses: [{name: fft, weight: 0.1}]``).

>>> import torch
>>> pred, gt = torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
>>> pred[0, 0, 0, 0] = 1.0          # a unit impulse: |FFT| is 1 at all 4 frequencies
>>> float(FrequencyLoss()(pred, gt))
1.0
"""

from __future__ import annotations

import torch
import torch.nn as nn

from aioir.losses import LOSSES


@LOSSES.register("fft")
class FrequencyLoss(nn.Module):
    """``mean |FFT2(pred) - FFT2(gt)|`` (no parameters; the weight is the extra loss's)."""

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        diff = torch.fft.fft2(pred.float()) - torch.fft.fft2(gt.float())
        return diff.abs().mean()
