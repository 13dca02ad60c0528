"""One training step per strategy family on each device, in fp32 and under autocast.

Every body runs on ``cpu`` here and on ``cuda`` where a GPU is visible (``pytest -m cuda``).

Tolerances (the loss of the second step, on the same batch twice from the same initial
weights: the tiny backbone starts as the identity, so the first step's prediction is its input
in any precision; the second runs through trained convolutions):
bf16 keeps 8 bits of mantissa (relative rounding 2**-8 = 3.9e-3 per operation); through a
few convolutions and the L1 mean the loss moves by well under 1 %, so bf16 must agree with
fp32 within 2e-2 relative; fp16 keeps 11 bits (4.9e-4), within 5e-3. ``channels_last`` is the
same maths in another memory layout: 1e-5 relative.
"""

from __future__ import annotations

import math

import pytest
import torch
from cuda_devices import CUDA_MARKS, DEVICES, cuda_param

from aioir.engine.build import build_run
from aioir.engine.stages import stage_at
from aioir.engine.trainer import Trainer

#: one per strategy family: plain weighted L1, uncertainty head on a hook, running per-task
#: state, per-task gradients combined
FAMILIES = ["mixed", "tur", "art", "pcgrad"]
AMP_TOLERANCE = {"bf16": 2e-2, "fp16": 5e-3}


def _trainer(tmp_path, make_config, strategy: str, device: str, name: str, **train) -> Trainer:
    cfg = make_config(strategy, steps=2, device=device, **train)
    return Trainer(build_run(cfg), tmp_path / name)


def _one_step(tr: Trainer):
    """The engine's own step on the run's first batch: (strategy output, stepped)."""
    batch = next(iter(tr._loader()))
    tr.model.train()
    tr.strategy.train()
    out, _aux, stepped = tr._train_step(tr._to_device(batch), stage_at(tr.stages, 0))
    return out, stepped


def _precisions(device: str) -> list[str]:
    return ["bf16", "fp16"] if device == "cuda" else ["bf16"]  # no fp16 autocast on CPU


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("strategy", FAMILIES)
def test_one_step_in_fp32_and_autocast(tmp_path, make_config, strategy, device):
    ref = _trainer(tmp_path, make_config, strategy, device, "fp32")
    before = {k: v.clone() for k, v in ref.model.state_dict().items()}
    out, stepped = _one_step(ref)
    assert stepped and math.isfinite(float(out.loss))
    out, stepped = _one_step(ref)
    assert stepped
    # every trained tensor lives on the device, the strategy's own (TUR's UEM head) included
    for p in ref.module.parameters():
        assert p.device.type == device
    for p in ref.strategy.parameters():
        assert p.grad is None or p.grad.device.type == device
    after = ref.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it stepped
    for name, value in after.items():
        assert value.device.type == device and torch.isfinite(value).all(), name
    for precision in _precisions(device):
        amp = _trainer(tmp_path, make_config, strategy, device, precision, precision=precision)
        _one_step(amp)
        amp_out, amp_stepped = _one_step(amp)
        assert amp_stepped
        rel = abs(float(amp_out.loss) - float(out.loss)) / abs(float(out.loss))
        assert rel < AMP_TOLERANCE[precision], (precision, float(amp_out.loss), float(out.loss))
        for v in amp.model.state_dict().values():  # master weights stay float32
            assert v.dtype == torch.float32 and torch.isfinite(v).all()


@pytest.mark.parametrize("device", DEVICES)
def test_channels_last_step_matches_the_default_layout(tmp_path, make_config, device):
    a = _trainer(tmp_path, make_config, "art", device, "a")
    b = _trainer(tmp_path, make_config, "art", device, "b", channels_last=True)
    conv = next(p for p in b.model.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    _one_step(a), _one_step(b)
    la, lb = float(_one_step(a)[0].loss), float(_one_step(b)[0].loss)
    assert abs(la - lb) <= 1e-5 * abs(la)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-5, rtol=0), k


@pytest.mark.parametrize("device", DEVICES)
def test_ema_follows_the_model_on_the_device(tmp_path, make_config, device):
    """decay 0.9: after one step ema = 0.9 * initial + 0.1 * stepped, computed here by hand."""
    tr = _trainer(tmp_path, make_config, "mixed", device, "ema", ema_decay=0.9)
    initial = {k: v.clone() for k, v in tr.model.state_dict().items()}
    _one_step(tr)
    ema = tr.ema.state_dict()
    for k, w in tr.model.state_dict().items():
        assert ema[k].device.type == device, k
        if w.dtype.is_floating_point:
            expect = 0.9 * initial[k] + 0.1 * w
            assert torch.allclose(ema[k], expect, atol=1e-6, rtol=0), k


@pytest.mark.parametrize("device", [cuda_param("cuda", id="cuda")])
def test_fp16_scaler_skips_an_overflowing_step_and_backs_off(tmp_path, make_config, device):
    """A loss scale of 2**40 overflows the fp16 backward (max 65504): the GradScaler finds
    inf gradients, skips the optimizer step (weights unchanged) and halves its scale."""
    tr = _trainer(tmp_path, make_config, "mixed", device, "fp16", precision="fp16")
    assert tr.scaler.is_enabled()
    tr.scaler = torch.amp.GradScaler("cuda", init_scale=2.0 ** 40)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    _one_step(tr)
    assert tr.scaler.get_scale() == 2.0 ** 39
    for k, v in tr.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    tr.scaler = torch.amp.GradScaler("cuda")  # the default scale 2**16: the step updates
    _out, stepped = _one_step(tr)
    assert stepped and any(not torch.equal(v, before[k])
                           for k, v in tr.model.state_dict().items())


@pytest.mark.parametrize("device", [cuda_param("cuda", id="cuda")])
def test_fp16_nan_loss_is_skipped_by_the_engine(tmp_path, make_config, device):
    tr = _trainer(tmp_path, make_config, "tur", device, "nan", precision="fp16")
    batch = next(iter(tr._loader()))
    batch["lq"] = torch.full_like(batch["lq"], float("nan"))
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    _out, stepped = tr._train_step(tr._to_device(batch), stage_at(tr.stages, 0))
    assert not stepped
    for k, v in tr.model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_cuda_marker_is_registered_and_skips_without_a_gpu(pytestconfig):
    assert any(m.startswith("cuda:") for m in pytestconfig.getini("markers"))
    skip = CUDA_MARKS[1]
    assert skip.args[0] is (not torch.cuda.is_available())


@pytest.mark.parametrize("device", [cuda_param("cuda", id="cuda")])
@pytest.mark.parametrize("strategy", ["tur", "pcgrad"])
def test_inductor_compiled_steps_match_uncompiled(tmp_path, make_config, strategy, device):
    """train.compile with inductor (generated kernels: other fusion and summation order):
    two steps agree with the uncompiled engine within 1e-4 on the weights."""
    plain = _trainer(tmp_path, make_config, strategy, device, "plain")
    fast = _trainer(tmp_path, make_config, strategy, device, "compiled", compile=True)
    for _ in range(2):
        _one_step(plain), _one_step(fast)
    a, b = plain.model.state_dict(), fast.model.state_dict()
    assert not any("_orig_mod" in k for k in b)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-4, rtol=0), k
