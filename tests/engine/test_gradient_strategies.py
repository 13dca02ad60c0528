"""The engine's side of the gradient-strategy contract: what it hands ``Strategy.backward``,
gradient accumulation, and mixed precision with a strategy that owns the backward pass."""

from __future__ import annotations

import pytest
import torch

from aioir.checkpoint import latest_checkpoint, load_checkpoint
from aioir.engine.build import build_run
from aioir.engine.trainer import Trainer


def _final_model(run_dir):
    return load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))["model"]


@pytest.mark.parametrize("strategy", ["pcgrad", "nashmtl"])
def test_accumulation_equals_the_full_batch(tmp_path, make_config, strategy):
    """Per-task gradient sums and counts add up over micro-batches: one combination per step
    on the step's task gradients, the same update as the full batch."""
    full = make_config(strategy, steps=3, grad_clip=None)
    full.data.batch_size = 8
    Trainer(build_run(full), tmp_path / "full").fit()
    acc = make_config(strategy, steps=3, grad_clip=None, grad_accum=2)
    acc.data.batch_size = 8
    Trainer(build_run(acc), tmp_path / "acc").fit()
    a, b = _final_model(tmp_path / "full"), _final_model(tmp_path / "acc")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=2e-5, rtol=0), k


def test_engine_hands_aux_losses_recon_weight_and_trained_parameters(tmp_path, make_config):
    cfg = make_config("pcgrad", steps=1, grad_clip=None)
    tr = Trainer(build_run(cfg), tmp_path)
    net = tr.model

    regs = []

    def train_forward(batch, restore=True):  # a backbone with an auxiliary loss
        pred = net(batch["lq"])
        regs.append(pred.square().mean())
        return pred, {"reg": regs[-1]}

    net.train_forward = train_forward
    tr.stages[0].aux_weights["reg"] = 0.25
    tr.stages[0].recon_weight = 0.5
    seen = []
    backward = tr.strategy.backward

    def spy(out, ctx):
        seen.append(ctx)
        backward(out, ctx)

    tr.strategy.backward = spy
    tr.fit()
    (ctx,) = seen
    assert ctx.recon_weight == 0.5 and ctx.accum == 1 and ctx.scale == tr.scaler.scale
    assert ctx.extra is not None and ctx.extra.requires_grad
    assert ctx.extra.item() == pytest.approx(0.25 * regs[0].item(), rel=1e-6)
    assert ctx.total.item() > ctx.extra.item()  # recon part + aux part
    trained = {id(p) for p in ctx.params}
    assert all(id(p) in trained for p in net.parameters())


def test_bf16_autocast_with_a_gradient_strategy(tmp_path, make_config):
    res = Trainer(build_run(make_config("cagrad", steps=2, precision="bf16")), tmp_path).fit()
    assert res.status == "finished" and res.skipped_steps == 0
    for v in _final_model(tmp_path).values():
        assert v.dtype == torch.float32 and torch.isfinite(v).all()
