"""Mixed precision, gradient accumulation and channels_last on CPU."""

from __future__ import annotations

import pytest
import torch

from aioir.checkpoint import latest_checkpoint, load_checkpoint
from aioir.engine.build import build_run
from aioir.engine.trainer import Trainer


def _final_model(run_dir):
    return load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))["model"]


def test_bf16_autocast_runs_on_cpu_and_really_computes_in_bf16(tmp_path, make_config):
    cfg = make_config("tur", steps=2, precision="bf16")
    tr = Trainer(build_run(cfg), tmp_path)
    seen = []
    tr.model.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    res = tr.fit()
    assert res.status == "finished" and res.skipped_steps == 0
    assert seen and all(d == torch.bfloat16 for d in seen)
    for v in _final_model(tmp_path).values():  # master weights stay float32
        assert v.dtype == torch.float32 and torch.isfinite(v).all()


def test_fp16_on_cpu_is_a_clear_error(tmp_path, make_config):
    tr = Trainer(build_run(make_config("mixed", steps=1, precision="fp16")), tmp_path)
    with pytest.raises(ValueError, match="fp16 needs CUDA"):
        tr.fit()


def test_gradient_accumulation_equals_the_full_batch_for_mixed(tmp_path, make_config):
    """mixed: mean L1 over 2 micro-batches of 4, each scaled by 1/2, is the mean over 8."""
    base = make_config("mixed", steps=3, grad_clip=None)
    base.data.batch_size = 8
    Trainer(build_run(base), tmp_path / "full").fit()
    acc = make_config("mixed", steps=3, grad_clip=None, grad_accum=2)
    acc.data.batch_size = 8
    Trainer(build_run(acc), tmp_path / "acc").fit()
    a, b = _final_model(tmp_path / "full"), _final_model(tmp_path / "acc")
    for k in a:  # same samples, same update up to float32 summation order
        assert torch.allclose(a[k], b[k], atol=2e-5, rtol=0), k


def test_grad_accum_must_divide_the_batch(tmp_path, make_config):
    cfg = make_config("mixed", steps=1, grad_accum=3)
    with pytest.raises(ValueError, match=r"not divisible by train.grad_accum 3"):
        Trainer(build_run(cfg), tmp_path).fit()


def test_channels_last_trains_to_the_same_weights(tmp_path, make_config):
    Trainer(build_run(make_config("art", steps=3)), tmp_path / "a").fit()
    Trainer(build_run(make_config("art", steps=3, channels_last=True)), tmp_path / "b").fit()
    a, b = _final_model(tmp_path / "a"), _final_model(tmp_path / "b")
    for k in a:  # a memory layout change: identical maths, different kernels' summation order
        assert torch.allclose(a[k], b[k], atol=1e-4, rtol=0), k
