"""tiny_unet: identity at initialisation and the global tone head's formula by hand."""

import math

import torch

from aioir import models


def test_identity_at_init_with_and_without_tone_head():
    x = torch.rand(2, 3, 29, 35).clamp(min=1e-3)
    for tone in (False, True):
        net = models.build("tiny_unet", width=8, global_tone=tone)
        assert torch.allclose(net(x), x, atol=1e-6)


def test_tone_head_applies_a_x_pow_g_plus_b_per_channel():
    net = models.build("tiny_unet", width=8, global_tone=True).eval()
    log_g = torch.tensor([0.3, -0.2, 0.0])
    log_a = torch.tensor([0.1, 0.0, -0.5])
    b = torch.tensor([0.05, -0.02, 0.1])
    with torch.no_grad():  # constant outputs of the tone MLP: its last bias, zero weights
        net.tone.mlp[-1].bias.copy_(torch.cat([log_g, log_a, b]))
    x = torch.rand(1, 3, 16, 20).clamp(min=1e-3)
    y = net(x)
    for c in range(3):  # the local branch is still zero (zero tail): y = a x^g + b exactly
        expected = math.exp(log_a[c]) * x[0, c] ** math.exp(log_g[c]) + b[c]
        assert torch.allclose(y[0, c], expected, atol=1e-5)
