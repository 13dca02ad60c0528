"""Staged schedules: which losses and parameters are active at each step.

Without ``train.stages`` a run is one stage of ``train.steps`` steps: reconstruction weight 1,
auxiliary losses (if the backbone has any) at the backbone's own default weights overridden by
``train.aux_weights``, every parameter trainable, ``optim.lr`` with the configured schedule.

>>> from aioir.config.schema import RunConfig, StageConfig
>>> cfg = RunConfig()
>>> cfg.train.steps = 30
>>> cfg.train.stages = [StageConfig(steps=10, recon_weight=0.0), StageConfig(steps=20, lr=1e-4)]
>>> st = resolve_stages(cfg, model=None)
>>> [(s.start, s.end, s.recon_weight, s.lr) for s in st]
[(0, 10, 0.0, 0.0002), (10, 30, 1.0, 0.0001)]
>>> stage_at(st, 10).index
1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from aioir.config.schema import RunConfig


@dataclass
class Stage:
    """A resolved stage: absolute step range and what is active in it."""

    index: int
    start: int
    end: int
    recon_weight: float
    aux_weights: dict[str, float]
    lr: float
    trainable: list[str] | None = None
    frozen: list[nn.Parameter] = field(default_factory=list, repr=False)


def resolve_stages(cfg: RunConfig, model: nn.Module | None) -> list[Stage]:
    """The run's stages with absolute step ranges, resolved weights and frozen parameters."""
    defaults = dict(getattr(model, "aux_loss_weights", {}) or {})
    defaults.update({loss.name: loss.weight for loss in cfg.train.extra_losses})
    defaults.update(cfg.train.aux_weights)
    specs = cfg.train.stages
    if not specs:
        return [Stage(0, 0, cfg.train.steps, 1.0, defaults, cfg.optim.lr)]
    total = sum(s.steps for s in specs)
    if total != cfg.train.steps:
        raise ValueError(
            f"train.stages last {total} steps in all but train.steps is {cfg.train.steps}; "
            "make them agree"
        )
    groups: dict[str, list[nn.Parameter]] = {}
    if any(s.trainable is not None for s in specs):
        get_groups = getattr(model, "parameter_groups", None)
        if not callable(get_groups):
            raise ValueError(
                f"train.stages[].trainable needs a backbone with parameter_groups(); "
                f"{type(model).__name__} has none"
            )
        groups = get_groups()
    out, start = [], 0
    for i, s in enumerate(specs):
        if s.steps < 1:
            raise ValueError(f"train.stages.{i}.steps must be >= 1")
        frozen: list[nn.Parameter] = []
        if s.trainable is not None:
            unknown = [g for g in s.trainable if g not in groups]
            if unknown:
                raise ValueError(
                    f"train.stages.{i}.trainable: unknown parameter group(s) {unknown}; "
                    f"the backbone has {sorted(groups)}"
                )
            keep = {id(p) for g in s.trainable for p in groups[g]}
            frozen = [p for p in model.parameters() if p.requires_grad and id(p) not in keep]
        aux = dict(defaults)
        aux.update(s.aux_weights)
        out.append(Stage(i, start, start + s.steps, s.recon_weight, aux,
                         cfg.optim.lr if s.lr is None else s.lr, s.trainable, frozen))
        start += s.steps
    return out


def stage_at(stages: list[Stage], step: int) -> Stage:
    """The stage that optimizer step ``step`` (0-based) belongs to."""
    for s in stages:
        if s.start <= step < s.end:
            return s
    return stages[-1]
