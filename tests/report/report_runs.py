"""The tiny runs the report tests read: their config, shared by conftest and the tests."""

from __future__ import annotations

from aioir.config.schema import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    StrategyConfig,
    TrainConfig,
    ValConfig,
)

TASKS = ["noise", "dark", "jpeg"]
STEPS = 4


def tiny_run_config(strategy: str, seed: int) -> RunConfig:
    """A run of a few seconds: 3 tasks, 24 px patches, validation on 32 px crops twice."""
    return RunConfig(
        name=f"r-{strategy}-{seed}",
        model=ModelConfig(name="tiny_unet", options={"width": 8}),
        strategy=StrategyConfig(name=strategy),
        data=DataConfig(setting="embedded", tasks=list(TASKS), patch_size=24, batch_size=6),
        optim=OptimConfig(lr=1e-3),
        train=TrainConfig(steps=STEPS, seed=seed, device="cpu", ema_decay=0.9, log_every=1,
                          checkpoint_every=STEPS, threads=1, progress=False),
        val=ValConfig(max_size=32, every=2, protocol="mioir"),
    )
