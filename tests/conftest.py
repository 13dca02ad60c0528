"""Small configs for engine tests: a tiny backbone, 3 tasks, a handful of steps."""

from __future__ import annotations

import pytest

from aioir.config.schema import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    StrategyConfig,
    TrainConfig,
    ValConfig,
)


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
