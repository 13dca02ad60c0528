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

A stage may train on a subset of the run's tasks (``tasks``: the data stream draws only those,
see :func:`task_segments`) and start from a fresh optimizer state (``fresh_optimizer``), as
MiOIR's sequential learning does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn as nn

from aioir.config.errors import suggest
from aioir.config.schema import RunConfig, check
from aioir.models.hooks import hooks


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
    tasks: tuple[str, ...] | None = None
    fresh_optimizer: bool = False


def resolve_stages(
    cfg: RunConfig, model: nn.Module | None, task_names: list[str] | None = None
) -> list[Stage]:
    """The run's stages with absolute step ranges, resolved weights and frozen parameters.

    ``task_names`` (the run's tasks) checks the stages' ``tasks``; ``None`` skips the check.
    """
    check(cfg)

    defaults = dict(hooks(model).aux_loss_weights)
    defaults.update({loss.name: loss.weight for loss in cfg.train.extra_losses})
    defaults.update(cfg.train.aux_weights)
    specs = cfg.train.stages
    if not specs:
        return [Stage(0, 0, cfg.train.steps, 1.0, defaults, cfg.optim.lr)]
    groups: dict[str, list[nn.Parameter]] = {}
    if any(s.trainable is not None for s in specs):
        if model is None:
            raise ValueError("train.stages[].trainable: the stages need the backbone to resolve")
        get_groups = hooks(model).parameter_groups
        if get_groups is None:
            raise ValueError(
                f"train.stages[].trainable needs a backbone with parameter_groups(); "
                f"{type(model).__name__} has none"
            )
        groups = get_groups()
    out, start = [], 0
    for i, s in enumerate(specs):
        if s.tasks is not None and task_names is not None:
            for t in s.tasks:
                if t not in task_names:
                    raise ValueError(
                        f"train.stages.{i}.tasks: {t!r} is not a task of this run"
                        f"{suggest(t, task_names)} (tasks: {', '.join(task_names)})")
        frozen: list[nn.Parameter] = []
        if s.trainable is not None:
            unknown = [g for g in s.trainable if g not in groups]
            if unknown:
                raise ValueError(
                    f"train.stages.{i}.trainable: unknown parameter group(s) {unknown}; "
                    f"the backbone has {sorted(groups)}"
                )
            keep = {id(p) for g in s.trainable for p in groups[g]}
            assert model is not None  # checked with the groups above
            frozen = [p for p in model.parameters() if p.requires_grad and id(p) not in keep]
        aux = dict(defaults)
        aux.update(s.aux_weights)
        out.append(Stage(i, start, start + s.steps, s.recon_weight, aux,
                         cfg.optim.lr if s.lr is None else s.lr, s.trainable, frozen,
                         None if s.tasks is None else tuple(s.tasks), s.fresh_optimizer))
        start += s.steps
    return out


def task_segments(stages: list[Stage], task_names: list[str], batch_size: int
                  ) -> list[tuple[int, tuple[str, ...]]]:
    """``[(first sample index, tasks)]``: where the training stream changes its task subset.

    The batch of step ``s`` is samples ``[s * B, (s + 1) * B)``, so a stage starting at step
    ``s`` starts at sample ``s * B``. Consecutive stages with the same tasks share a segment
    (a run without subsets is one segment: the plain stream).

    >>> from aioir.config.schema import RunConfig, StageConfig
    >>> cfg = RunConfig()
    >>> cfg.train.steps = 6
    >>> cfg.train.stages = [StageConfig(steps=2, tasks=["noise"]),
    ...                     StageConfig(steps=2, tasks=["noise", "rain"]), StageConfig(steps=2)]
    >>> task_segments(resolve_stages(cfg, None), ["noise", "rain", "haze"], batch_size=4)
    [(0, ('noise',)), (8, ('noise', 'rain')), (16, ('noise', 'rain', 'haze'))]
    """
    out: list[tuple[int, tuple[str, ...]]] = []
    for st in stages:
        tasks = tuple(task_names) if st.tasks is None else tuple(st.tasks)
        if not out or out[-1][1] != tasks:
            out.append((st.start * batch_size, tasks))
    return out


def stage_at(stages: list[Stage], step: int) -> Stage:
    """The stage that optimizer step ``step`` (0-based) belongs to."""
    for s in stages:
        if s.start <= step < s.end:
            return s
    return stages[-1]
