"""mixed: L1 over the batch, per-task L1 means, sample-share weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aioir import strategies


def test_mixed_by_hand() -> None:
    rng = np.random.default_rng(0)
    pred, gt = rng.random((5, 3, 4, 3)), rng.random((5, 3, 4, 3))
    tid = [2, 0, 2, 2, 3]
    s = strategies.build("mixed", num_tasks=4)
    out = s(torch.tensor(pred), torch.tensor(gt), torch.tensor(tid))
    total = 0.0
    for v in np.abs(pred - gt).ravel():
        total += v
    assert out.loss.item() == pytest.approx(total / pred.size, rel=1e-12)
    for k in range(4):
        idx = [i for i in range(5) if tid[i] == k]
        ref = np.mean([np.abs(pred[i] - gt[i]).mean() for i in idx]) if idx else 0.0
        assert out.task_losses[k].item() == pytest.approx(ref, rel=1e-12)
        assert out.weights[k].item() == pytest.approx(len(idx) / 5)
        assert bool(out.present[k]) == bool(idx)
