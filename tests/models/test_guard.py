"""aioir.models.guard: sizes measured on the meta device equal the real ones for every backbone;
absurd options are refused before anything is allocated; a checkpoint's tensors are checked
against the meta network before the real one is built."""

from __future__ import annotations

import pytest
import torch

from aioir import models
from aioir.models import guard
from aioir.models.guard import CheckpointMismatchError


@pytest.mark.parametrize("name", models.names())
def test_every_backbone_builds_on_meta_with_its_real_size(name):
    """The size check needs the meta build: a backbone that cannot be built on ``meta`` would
    load unchecked, so the contract holds for every registered one."""
    options = models.reduced_options(name)
    meta = guard.meta_model(name, options, source="test")
    assert meta is not None, f"{name} cannot be built on the meta device"
    real = models.build(name, **options)
    expected = sum(t.numel() * t.element_size()
                   for t in list(real.parameters()) + list(real.buffers()))
    assert guard.model_bytes(name, options) == expected
    assert {k: tuple(v.shape) for k, v in meta.state_dict().items()} == {
        k: tuple(v.shape) for k, v in real.state_dict().items()}


def test_tiny_unet_at_width_20000_is_refused_with_its_size(monkeypatch):
    # independently: tiny_unet's size is a quadratic in the width (convolutions: w^2 terms,
    # biases: w terms; once the squeeze-excite bottleneck channels // 4 is above its floor of 4,
    # for widths that are multiples of 4 from 16 on); fitted on real (allocated) networks of
    # widths 32, 48, 64 and extrapolated, it gives the meta measurement at width 20000 exactly
    def real(w: int) -> int:
        net = models.build("tiny_unet", width=w)
        return sum(t.numel() * t.element_size() for t in net.state_dict().values())

    b32, b48, b64 = real(32), real(48), real(64)
    a2 = (b64 - 2 * b48 + b32) // (2 * 16 * 16)  # second difference / (2 h^2)
    a1 = (b48 - b32) // 16 - a2 * (48 + 32)
    a0 = b32 - a2 * 32**2 - a1 * 32
    assert [a2 * w**2 + a1 * w + a0 for w in (32, 48, 64)] == [b32, b48, b64]
    big = guard.model_bytes("tiny_unet", {"width": 20000})
    assert big == a2 * 20000**2 + a1 * 20000 + a0
    assert 1.35e12 < big < 1.45e12  # the "1.4 TB tensor"

    def no_allocation(*args, **kwargs):
        raise AssertionError("the real network was built")

    monkeypatch.setattr(models, "build", no_allocation)
    with pytest.raises(guard.ModelTooLargeError, match=r"ck.pt asks for a tiny_unet with options "
                       r"\{'width': 20000\}, which holds 1.4 TB .* above 17.2 GB"):
        # as many tensors as a tiny_unet holds: the module count is plausible, the size is not
        guard.build_for_state("tiny_unet", {"width": 20000},
                              {f"w{i}": torch.zeros(1) for i in range(64)}, source="ck.pt")


def test_the_limit_comes_from_the_environment(monkeypatch):
    size = guard.model_bytes("tiny_unet", {"width": 8})
    monkeypatch.setenv("AIOIR_MAX_MODEL_BYTES", str(size - 1))
    with pytest.raises(guard.ModelTooLargeError, match="AIOIR_MAX_MODEL_BYTES"):
        guard.check_model_size("tiny_unet", {"width": 8}, source="x")
    monkeypatch.setenv("AIOIR_MAX_MODEL_BYTES", str(size))
    assert guard.check_model_size("tiny_unet", {"width": 8}, source="x") == size
    monkeypatch.setenv("AIOIR_MAX_MODEL_BYTES", "lots")
    with pytest.raises(ValueError, match="AIOIR_MAX_MODEL_BYTES must be a number"):
        guard.max_model_bytes()


def test_mismatching_weights_are_named_before_the_real_network_is_built(monkeypatch):
    state = models.build("tiny_unet", width=8).state_dict()
    monkeypatch.setattr(models, "build", lambda *a, **k: pytest.fail("built for real"))
    with pytest.raises(CheckpointMismatchError, match=r"shape mismatches: .*\[8, .* vs model "
                                                      r"\[16, "):
        guard.build_for_state("tiny_unet", {"width": 16}, state, source="ck.pt")


@pytest.mark.parametrize("name, options, message", [
    ("tiny_unet", {"widht": 8}, "ck.pt: tiny_unet does not take the options {'widht': 8}"),
    ("tiny_unte", {}, "ck.pt: unknown model 'tiny_unte'; did you mean 'tiny_unet'?"),
    ("tiny_unet", ["width", 8], "ck.pt: model options must be a mapping"),
])
def test_bad_recipes_are_value_errors_naming_the_file(name, options, message):
    with pytest.raises(ValueError) as info:
        guard.build_for_state(name, options, None, source="ck.pt")
    assert message in str(info.value)


def test_good_weights_load_exactly():
    src = models.build("tiny_unet", width=8)
    net = guard.build_for_state("tiny_unet", {"width": 8}, src.state_dict(), source="x")
    assert not net.training
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(),
                                                 net.state_dict().values()))
