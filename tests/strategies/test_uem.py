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


# ---------------------------------------------------------------- head_start (issue 26)
def _first_step(name: str, start: str, zero_last: bool = False, **options):
    """A strategy attached to a tiny network, the first training forward's (loss output,
    pred, gt) and the strategy."""
    from aioir import models, strategies

    torch.manual_seed(0)
    net = models.build("tiny_unet", width=8)
    s = strategies.build(name, num_tasks=3, head_start=start, **options)
    s.attach(net)
    if zero_last:  # a constant pre-activation: the shift is exact
        with torch.no_grad():
            s.uem[4].weight.zero_()
    x = torch.rand(4, 3, 16, 16)
    gt = (x + 0.05 * torch.randn(4, 3, 16, 16)).clamp(0, 1)
    pred = net(x)
    out = s(pred, gt, torch.tensor([0, 0, 1, 2]))
    return s, net, out, pred.detach(), gt, x


@pytest.mark.parametrize("name", ["tur", "ue"])
def test_head_start_error_puts_the_first_map_at_half_the_l1(name) -> None:
    # rho(e)/U + 2 log U is smallest at U = mean|e|/2: the first map's mean is that, exactly when
    # the pre-activation is constant, within 1 % from the initialised head
    _s, _, out, pred, gt, _ = _first_step(name, "error", zero_last=True)
    want = float((pred - gt).abs().mean()) / 2
    assert float(out.extras["uncertainty"][out.present].mean()) == pytest.approx(want, rel=1e-5)
    _s, _, out, pred, gt, _ = _first_step(name, "error")
    want = float((pred - gt).abs().mean()) / 2
    assert float(out.extras["uncertainty"][out.present].mean()) == pytest.approx(want, rel=1e-2)


def test_head_start_error_gaussian_form_starts_at_the_mse() -> None:
    # MSE / (2 sigma^2) + 1/2 log sigma^2 is smallest at sigma^2 = MSE
    _s, _, out, pred, gt, _ = _first_step("tur", "error", zero_last=True, form="gaussian")
    want = float(((pred - gt) ** 2).mean())
    assert float(out.extras["uncertainty"][out.present].mean()) == pytest.approx(want, rel=1e-5)


def test_head_start_moves_the_bias_once_and_a_resumed_run_keeps_it() -> None:
    from aioir import strategies

    s, net, _, _, gt, x = _first_step("tur", "error")
    bias = s.uem[4].bias.detach().clone()
    assert bool(s.head_started)
    s(net(x), gt, torch.tensor([0, 0, 1, 2]))  # second step: no shift
    assert torch.equal(s.uem[4].bias, bias)
    state = s.state_dict()
    s.detach()
    resumed = strategies.build("tur", num_tasks=3, head_start="error")
    resumed.attach(net)
    resumed.load_state_dict(state)
    resumed(net(x), gt, torch.tensor([0, 0, 1, 2]))
    assert torch.equal(resumed.uem[4].bias, bias)
    resumed.detach()


def test_head_start_init_is_the_default_and_changes_nothing() -> None:
    from aioir import strategies

    s, _, _, _, _, _ = _first_step("tur", "init")
    torch.manual_seed(0)
    assert strategies.build("tur", num_tasks=3).head_start == "init"
    assert "head_started" not in s.state_dict()  # checkpoints of the paper's recipe unchanged
    # the initialised bias, as UncertaintyHead draws it after the tiny network (same seed)
    from aioir import models

    torch.manual_seed(0)
    models.build("tiny_unet", width=8)
    ref = UncertaintyHead(s.uem[0].in_channels)
    assert torch.equal(s.uem[4].bias, ref[4].bias)
    with pytest.raises(ValueError, match="head_start"):
        strategies.build("tur", num_tasks=3, head_start="zero")
