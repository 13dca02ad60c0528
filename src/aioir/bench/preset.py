"""The demo's preset: the run config ``aioir demo`` and ``aioir bench demo[:quick]`` train.

A bench preset lives on the bench's floor, so :mod:`aioir.bench.spec` reads it without importing
the demo that runs it (:mod:`aioir.demo` re-exports these names).

>>> cfg = demo_config("art", BUDGETS["quick"])
>>> cfg.model.name, cfg.strategy.options, cfg.train.steps
('aware_unet', {'tau': 3.0}, 150)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aioir.config.schema import (
    MIOIR_TASKS,
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    ScheduleConfig,
    StrategyConfig,
    TrainConfig,
    ValConfig,
)

STRATEGIES = ("mixed", "tur", "art")
#: the demo's backbone (registry name)
DEMO_MODEL = "aware_unet"


@dataclass(frozen=True)
class DemoBudget:
    """Training budget of one demo run."""

    steps: int
    patch_size: int
    batch_size: int
    lr: float
    width: int
    val_max_size: int
    #: side limit of the whole-photograph test images (None: full size, as the user's photos)
    whole_max_size: int | None = None


#: the default budget finishes in about 9.5 minutes on 2 idle CPU cores; --quick in about 2
BUDGETS = {
    "default": DemoBudget(steps=420, patch_size=64, batch_size=16, lr=1e-3, width=24,
                          val_max_size=192),
    "quick": DemoBudget(steps=150, patch_size=64, batch_size=12, lr=1e-3, width=16,
                        val_max_size=192),
}


def demo_model_options(width: int) -> dict[str, Any]:
    """The demo backbone's options: a U-Net whose output heads (a tone curve, a residual tail
    and a 7 x 7 linear filter fitted in closed form, per task) are chosen by a classifier on
    size-invariant image statistics (linear discriminant analysis, also closed form), with a
    "clean" class routed to the identity. The deployed network needs no task id. Why this and
    not a plain U-Net: the measurements in docs/benchmarks.md ("The demo")."""
    return {"width": width, "num_tasks": len(MIOIR_TASKS), "heads": "both", "clean": 0.25,
            "filter_size": 7, "filter_fit": "lstsq", "classifier": "stats", "gate": "hard"}


def demo_config(
    strategy: str, budget: DemoBudget, seed: int = 0, cache: str | None = None
) -> RunConfig:
    """The run config of one demo strategy (identical for all but ``strategy``)."""
    options = {"tau": 3.0} if strategy == "art" else {}
    return RunConfig(
        name=f"demo-{strategy}",
        model=ModelConfig(name=DEMO_MODEL, options=demo_model_options(budget.width)),
        strategy=StrategyConfig(name=strategy, options=options),
        data=DataConfig(
            setting="embedded",
            tasks=list(MIOIR_TASKS),
            patch_size=budget.patch_size,
            batch_size=budget.batch_size,
            cache=cache,
        ),
        optim=OptimConfig(name="adam", lr=budget.lr),
        schedule=ScheduleConfig(name="cosine", warmup_steps=max(budget.steps // 20, 1)),
        train=TrainConfig(
            steps=budget.steps,
            seed=seed,
            device="cpu",
            ema_decay=0.99,
            grad_clip=1.0,
            log_every=10,
            checkpoint_every=max(budget.steps // 4, 1),
            threads=1,
            progress=False,
        ),
        val=ValConfig(max_size=budget.val_max_size, protocol="mioir"),
    )
