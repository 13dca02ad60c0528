"""A tiny bench spec for the bench tests (tiny_unet width 8, 24 px patches, two tasks)."""

from __future__ import annotations

import pytest

from aioir.bench.spec import BenchSpec
from aioir.config import to_dict
from aioir.config.schema import RunConfig

TINY_TASKS = ["noise", "dark"]


def make_tiny_spec(**changes) -> BenchSpec:
    """2 strategies x 2 seeds x 6 steps on two tasks; ``changes`` replace spec fields."""
    cfg = RunConfig()
    cfg.model.options = {"width": 8}
    cfg.data.tasks = list(TINY_TASKS)
    cfg.data.patch_size = 24
    cfg.data.batch_size = 4
    cfg.optim.lr = 3e-3
    cfg.train.device = "cpu"
    cfg.train.checkpoint_every = 3
    cfg.train.ema_decay = 0.0
    cfg.val.max_size = 40
    fields = dict(base=to_dict(cfg), strategies=["mixed", "art"], seeds=[0, 1], steps=[6],
                  baseline="mixed")  # n_boot: aioir report's 10,000
    fields.update(changes)
    return BenchSpec(**fields)


@pytest.fixture
def tiny_spec():
    return make_tiny_spec
