"""Small configs for engine tests: a tiny backbone, 3 tasks, a handful of steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from aioir.config.schema import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    StrategyConfig,
    TrainConfig,
    ValConfig,
)
from aioir.models.diffusion.schedule import NoiseSchedule


def tiny_config(strategy: str = "mixed", steps: int = 6, **train_overrides) -> RunConfig:
    train = dict(steps=steps, seed=3, device="cpu", ema_decay=0.9, log_every=1,
                 checkpoint_every=2, threads=1, progress=False, grad_clip=1.0)
    train.update(train_overrides)
    return RunConfig(
        name=f"t-{strategy}",
        model=ModelConfig(name="tiny_unet", options={"width": 8}),
        strategy=StrategyConfig(name=strategy),
        data=DataConfig(setting="embedded", tasks=["noise", "dark", "jpeg"], patch_size=24,
                        batch_size=4),
        optim=OptimConfig(lr=1e-3),
        train=TrainConfig(**train),
        val=ValConfig(enabled=False),
    )


@pytest.fixture
def make_config():
    return tiny_config


@pytest.fixture(scope="session")
def tur_checkpoint(tmp_path_factory):
    """A 3-step TUR run of the demo backbone (tiny): its last checkpoint keeps the UEM head."""
    from aioir.engine.run import train

    cfg = tiny_config("tur", steps=3, checkpoint_every=3)
    cfg.model.options = {"width": 8, "global_tone": True}
    result = train(cfg, tmp_path_factory.mktemp("tur") / "run")
    assert result.checkpoint is not None
    return result.checkpoint


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """Tests never read or write the user's cache (the memory measurements of aioir restore):
    one fresh folder for the session."""
    import os

    old = os.environ.get("AIOIR_CACHE_DIR")
    os.environ["AIOIR_CACHE_DIR"] = str(tmp_path_factory.mktemp("aioir-cache"))
    yield
    if old is None:
        os.environ.pop("AIOIR_CACHE_DIR", None)
    else:
        os.environ["AIOIR_CACHE_DIR"] = old


# the diffusion tests' (tests/models/diffusion, tests/diffusion) exact noise predictor
class Oracle(nn.Module):
    """The exact noise predictor for a data distribution that is one image ``c``:
    ``eps(x_t, t) = (x_t - sqrt(abar_t) c) / sqrt(1 - abar_t)``."""

    def __init__(self, c: torch.Tensor, T: int = 50) -> None:
        super().__init__()
        self.c = c
        self.schedule = NoiseSchedule(T)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, t=None):
        return self.schedule.eps_from_x0(x, t, self.c.expand_as(x))

    def eps_prediction(self, out, x_t, t):
        return out


@pytest.fixture
def oracle():
    return Oracle


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of many tiny forwards, where a second OpenMP thread on a
    shared 2-core machine costs far more than it gives (requested by the diffusion folders'
    conftests)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
