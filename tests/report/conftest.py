"""Tiny finished runs to report on: two strategies (mixed, tur) x two seeds, laid out like the
output of ``aioir bench`` (one folder per cell), trained once per test session."""

from __future__ import annotations

from pathlib import Path

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

TASKS = ["noise", "dark", "jpeg"]
STEPS = 4


def tiny_run_config(strategy: str, seed: int) -> RunConfig:
    """A run of a few seconds: 3 tasks, 24 px patches, validation on 32 px crops twice."""
    return RunConfig(
        name=f"r-{strategy}-{seed}",
        model=ModelConfig(name="tiny_unet", options={"width": 8}),
        strategy=StrategyConfig(name=strategy),
        data=DataConfig(source="embedded", tasks=list(TASKS), patch_size=24, batch_size=6),
        optim=OptimConfig(lr=1e-3),
        train=TrainConfig(steps=STEPS, seed=seed, device="cpu", ema_decay=0.9, log_every=1,
                          checkpoint_every=STEPS, threads=1, progress=False),
        val=ValConfig(source="embedded", max_size=32, every=2, protocol="mioir"),
    )


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory) -> Path:
    """``<root>/<strategy>/seed<k>``: mixed and tur, seeds 0 and 1."""
    from aioir.engine.run import train

    root = tmp_path_factory.mktemp("bench")
    for strategy in ("mixed", "tur"):
        for seed in (0, 1):
            train(tiny_run_config(strategy, seed), root / strategy / f"seed{seed}")
    return root
