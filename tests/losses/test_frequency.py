"""The ``fft`` extra loss: EEDTP's ``fftLoss``, mean |FFT2(x) - FFT2(y)|, against a DFT by hand."""

from __future__ import annotations

import pytest
import torch

from aioir import losses


def test_fft_loss_is_the_mean_modulus_of_the_dft_difference():
    # 2 x 2 DFT of [[1, 2], [3, 4]] written out: X00 = 10, X01 = (1 - 2) + (3 - 4) = -2,
    # X10 = (1 + 2) - (3 + 4) = -4, X11 = 1 - 2 - 3 + 4 = 0; mean |X| = 16 / 4 = 4
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    loss = losses.build("fft")
    assert float(loss(pred, torch.zeros_like(pred))) == pytest.approx(4.0, abs=1e-6)
    # a second channel and image at the same distance doubles nothing: it is a mean
    two = torch.cat([pred, pred], dim=1)
    assert float(loss(two, torch.zeros_like(two))) == pytest.approx(4.0, abs=1e-6)
    # linear in the difference, zero for equal images
    assert float(loss(pred, pred)) == 0.0
    assert float(loss(2 * pred, pred)) == pytest.approx(4.0, abs=1e-6)
