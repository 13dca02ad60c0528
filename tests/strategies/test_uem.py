"""The Uncertainty Estimation Module: size, positivity, initial scale, determinism."""

from __future__ import annotations

import math

import pytest
import torch

from aioir.strategies.uem import UncertaintyHead


def _conv_params(cin: int, cout: int, k: int = 3) -> int:
    return cin * cout * k * k + cout


def test_param_count_on_a_64_channel_tap_is_the_published_75587() -> None:
    by_hand = 2 * _conv_params(64, 64) + _conv_params(64, 3)
    assert by_hand == 75_587
    assert sum(p.numel() for p in UncertaintyHead(64).parameters()) == by_hand


def test_initial_weights_are_scaled_by_a_tenth() -> None:
    torch.manual_seed(0)
    head = UncertaintyHead(16)
    # PyTorch's default conv init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)); scaled by 0.1
    bound = 0.1 / math.sqrt(16 * 9)
    for conv in (head[0], head[2], head[4]):
        w = conv.weight.abs().max().item()
        assert bound * 0.9 < w <= bound + 1e-9


def test_output_is_positive_and_init_is_reproducible_from_the_global_seed() -> None:
    torch.manual_seed(3)
    a = UncertaintyHead(8)
    torch.manual_seed(3)
    b = UncertaintyHead(8)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    u = a(torch.randn(2, 8, 6, 5) * 50)
    assert u.shape == (2, 3, 6, 5) and bool((u > 0).all())


def test_kaiming_init_is_the_authors_scaled_kaiming_normal_with_zero_bias() -> None:
    """BasicSR default_init_weights(m, 0.1): kaiming_normal_ (fan_in, gain sqrt(2)) x 0.1."""
    torch.manual_seed(0)
    head = UncertaintyHead(64, init="kaiming")
    for conv in (head[0], head[2], head[4]):
        fan_in = conv.in_channels * 9
        std = 0.1 * math.sqrt(2.0 / fan_in)
        w = conv.weight.detach()
        assert w.std().item() == pytest.approx(std, rel=0.05)
        assert abs(w.mean().item()) < 3 * std / math.sqrt(w.numel())
        assert torch.count_nonzero(conv.bias) == 0
    with pytest.raises(ValueError, match="init"):
        UncertaintyHead(8, init="xavier")


def test_strategies_pass_the_head_init_through() -> None:
    from aioir import models, strategies

    net = models.build("tiny_unet", width=8)
    s = strategies.build("tur", num_tasks=2, head_init="kaiming")
    s.attach(net)
    assert all(torch.count_nonzero(m.bias) == 0 for m in (s.uem[0], s.uem[2], s.uem[4]))
    s.detach()
    with pytest.raises(ValueError, match="head_init"):
        strategies.build("ue", num_tasks=2, head_init="zeros")
