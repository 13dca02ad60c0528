"""The backbone contract, run over every registered backbone with its ``TEST_OPTIONS``.

Any backbone registered later (by anyone) is covered automatically: it only needs an entry in
``aioir.models.TEST_OPTIONS``. What is checked, per backbone:

* same output shape as the input for odd sizes, in eval and train mode;
* a gradient reaches every trainable parameter (except those the model itself declares in
  ``unused_in_forward``, which must then receive none);
* a state-dict round trip into a freshly built instance reproduces the output exactly;
* ``uem_tap`` names a submodule whose output is BCHW with ``uem_channels`` channels and at least
  the input's spatial size; hooking it changes neither the output nor the state-dict keys;
* the same seed gives the same weights and the same output on CPU.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from aioir import models

NAMES = models.names()
SIZES = [(37, 29), (5, 7)]


def build(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return models.build(name, **models.TEST_OPTIONS[name])


def image(h: int, w: int, seed: int = 1, batch: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, h, w, generator=g)


@torch.no_grad()
def perturb_all(model: nn.Module, seed: int = 2, std: float = 0.05) -> None:
    """Add noise to every floating-point parameter, so no weight is at a symmetric/zero init."""
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        if p.is_floating_point():
            p.add_(torch.randn(p.shape, generator=g) * std)


def unused(model: nn.Module) -> set[str]:
    return set(getattr(model, "unused_in_forward", ()))


def test_every_backbone_has_test_options():
    missing = [n for n in NAMES if n not in models.TEST_OPTIONS]
    assert not missing, f"register TEST_OPTIONS for: {missing}"
    assert len(NAMES) >= 4  # tiny_unet, srresnet, restormer, promptir at least


@pytest.mark.parametrize("name", NAMES)
def test_declares_tap_and_channels(name):
    model = build(name)
    assert isinstance(model.uem_tap, str) and model.uem_tap
    assert isinstance(model.uem_channels, int) and model.uem_channels > 0
    model.get_submodule(model.uem_tap)  # raises if the name does not resolve
    names = dict(model.named_parameters())
    assert unused(model) <= set(names), "unused_in_forward must name real parameters"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_output_shape_any_size(name, mode):
    model = build(name)
    model.train(mode == "train")
    for h, w in SIZES:
        x = image(h, w, batch=2 if (h, w) == SIZES[1] else 1)
        with torch.no_grad():
            y = model(x)
        assert isinstance(y, torch.Tensor)
        assert y.shape == x.shape, f"{name} {mode}: {tuple(x.shape)} -> {tuple(y.shape)}"
        assert y.dtype == x.dtype and torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_every_trainable_parameter(name):
    model = build(name).train()
    # Zero-initialised layers (identity-start output convs, zero scales) block gradients to
    # everything upstream at init; a random perturbation makes the connectivity visible.
    perturb_all(model)
    # Several samples: stochastic depth drops whole blocks per sample, so with one sample a
    # dropped block would (legitimately) see no gradient in this step.
    x = image(37, 29, batch=3)
    target = image(37, 29, seed=3, batch=3)
    torch.manual_seed(0)
    loss = (model(x) - target).abs().mean()
    loss.backward()
    skip = unused(model)
    no_grad, zero_grad = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if n in skip:
            assert p.grad is None, f"{n} is declared unused but received a gradient"
        elif p.grad is None:
            no_grad.append(n)
        else:
            assert torch.isfinite(p.grad).all(), n
            if not p.grad.abs().sum() > 0:
                zero_grad.append(n)
    assert not no_grad, f"{name}: no gradient for {no_grad[:10]}"
    assert not zero_grad, f"{name}: all-zero gradient for {zero_grad[:10]}"


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    source = build(name, seed=0).eval()
    perturb_all(source)
    fresh = build(name, seed=5).eval()
    x = image(37, 29)
    with torch.no_grad():
        expected = source(x)
        before = fresh(x)
        fresh.load_state_dict(source.state_dict(), strict=True)
        after = fresh(x)
    assert not torch.equal(before, expected)  # the round trip is what makes them equal
    assert torch.equal(after, expected)


@pytest.mark.parametrize("name", NAMES)
def test_uem_tap_is_full_resolution_feature_and_hook_is_transparent(name):
    model = build(name).eval()
    x = image(37, 29)
    keys = list(model.state_dict())
    with torch.no_grad():
        plain = model(x)
    seen: list[torch.Tensor] = []
    handle = model.get_submodule(model.uem_tap).register_forward_hook(
        lambda mod, inp, out: seen.append(out)
    )
    try:
        with torch.no_grad():
            hooked = model(x)
    finally:
        handle.remove()
    assert len(seen) == 1, "the tap must run exactly once per forward"
    feat = seen[0]
    assert isinstance(feat, torch.Tensor) and feat.ndim == 4
    assert feat.shape[0] == 1 and feat.shape[1] == model.uem_channels
    assert feat.shape[2] >= 37 and feat.shape[3] >= 29
    assert torch.equal(hooked, plain)
    assert list(model.state_dict()) == keys


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_on_cpu(name):
    a, b = build(name, seed=7).eval(), build(name, seed=7).eval()
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    x = image(37, 29)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
        assert torch.equal(a(x), a(x))
