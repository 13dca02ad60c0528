"""The LR schedule against torch's own schedulers (an independent implementation)."""

import pytest
import torch

from aioir.engine.schedule import lr_at


def _torch_lrs(scheduler_factory, steps: int, base_lr: float) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = scheduler_factory(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_cosine_matches_torch_cosine_annealing():
    steps, base, eta = 50, 2e-4, 1e-7
    ref = _torch_lrs(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=steps, eta_min=eta),
        steps,
        base,
    )
    ours = [lr_at(s, base_lr=base, total_steps=steps, min_lr=eta) for s in range(steps)]
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-15)


def test_warmup_is_linear_then_cosine_from_peak():
    base, warm, total = 1e-3, 5, 25
    lrs = [lr_at(s, base_lr=base, total_steps=total, warmup_steps=warm) for s in range(total)]
    assert lrs[:warm] == pytest.approx([base * (i + 1) / warm for i in range(warm)])
    assert lrs[warm] == pytest.approx(base)
    assert all(a >= b for a, b in zip(lrs[warm:], lrs[warm + 1 :]))


def test_constant_and_unknown():
    assert lr_at(7, base_lr=0.5, total_steps=10, name="constant") == 0.5
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_at(0, base_lr=1.0, total_steps=10, name="step")
