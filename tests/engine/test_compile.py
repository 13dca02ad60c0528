"""``train.compile``: a compiled run trains the same weights, saves plain keys, and resumes.

The tests compile with the ``aot_eager`` backend: dynamo captures the graphs and AOT autograd
builds the backward, as with ``inductor``, without generating kernels (inductor takes minutes
on the CI's CPU; it is exercised on CUDA in tests/cuda/test_cuda_training.py). With
``aot_eager`` the compiled graphs run the same ATen kernels in the same order, so the weights
agree with an uncompiled run to float32 rounding (tolerance 1e-6 on weights of order 0.1).
"""

from __future__ import annotations

import os
import signal

import pytest
import torch

from aioir.checkpoint import latest_checkpoint, load_checkpoint
from aioir.config.errors import ConfigError
from aioir.engine.build import build_run
from aioir.engine.trainer import Trainer


def _final(run_dir) -> dict:
    return load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))


def _close(a: dict, b: dict, what: str, atol: float = 1e-6) -> None:
    assert a.keys() == b.keys(), what
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=atol, rtol=0), f"{what}.{k}"


# TUR: the tap hook on the backbone fires inside the compiled region and the UEM head trains;
# pcgrad: per-task gradients through autograd.grad of the compiled graph
@pytest.mark.parametrize("strategy", ["tur", "pcgrad"])
def test_compiled_run_equals_uncompiled_and_saves_plain_keys(tmp_path, make_config, strategy):
    Trainer(build_run(make_config(strategy, steps=2)), tmp_path / "plain").fit()
    cfg = make_config(strategy, steps=2, compile=True, compile_backend="aot_eager")
    tr = Trainer(build_run(cfg), tmp_path / "compiled")
    assert type(tr.train_module).__name__ == "OptimizedModule"  # really compiled
    tr.fit()
    a, b = _final(tmp_path / "plain"), _final(tmp_path / "compiled")
    for part in ("model", "ema", "strategy"):
        assert not any("_orig_mod" in k for k in b[part]), part
        _close(a[part], b[part], part)
    assert not torch.equal(a["model"]["head.weight"],  # it trained: not the initial weights
                           build_run(make_config(strategy)).model.state_dict()["head.weight"])


def test_compiled_run_resumes_and_its_checkpoint_loads_uncompiled(tmp_path, make_config):
    """art (running EMA/minimum state): compiled 2 steps, interrupted, resumed compiled to 4
    == an uninterrupted uncompiled 4-step run; the compiled checkpoint resumes uncompiled."""
    Trainer(build_run(make_config("art", steps=4)), tmp_path / "plain").fit()
    cfg = make_config("art", steps=4, compile=True, compile_backend="aot_eager")

    def interrupt(step: int) -> None:
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    res = Trainer(build_run(cfg), tmp_path / "cut").fit(on_step=interrupt)
    assert res.status == "interrupted" and res.step == 2
    cut_ckpt = latest_checkpoint(tmp_path / "cut" / "checkpoints")
    res = Trainer(build_run(cfg), tmp_path / "cut", resume="auto").fit()
    assert res.status == "finished" and res.step == 4
    a, b = _final(tmp_path / "plain"), _final(tmp_path / "cut")
    for part in ("model", "ema", "strategy"):
        _close(a[part], b[part], part)
    # the compiled run's step-2 checkpoint continues without compile (an execution key)
    back = Trainer(build_run(make_config("art", steps=4)), tmp_path / "cut", resume=str(cut_ckpt))
    assert back.step == 2
    _close(back.model.state_dict(), load_checkpoint(cut_ckpt)["model"], "model", atol=0)


def test_unknown_compile_backend_is_a_config_error(make_config):
    cfg = make_config("mixed", compile=True, compile_backend="inductr")
    with pytest.raises(ConfigError, match=r"train.compile_backend: 'inductr'.*'inductor'"):
        build_run(cfg)
