"""Shorten (or lengthen) a run: scale its step budget, stages included.

``aioir train CONFIG --steps N`` replaces ``train.steps`` by ``N`` and scales everything measured
in steps by the same factor ``f = N / train.steps``, so a paper recipe can be tried for a few
steps:

* every stage keeps its share: ``round(f * steps_i)`` by the largest-remainder method, so the
  stages add up to ``N`` exactly, and at least 1 step each (with fewer steps than stages, every
  stage gets 1 and the run lasts one step per stage);
* ``schedule.warmup_steps``: ``round(f * w)`` (kept below the first stage's length);
* ``train.checkpoint_every``, ``train.log_every``: ``max(1, round(f * n))``;
* ``val.every`` (when > 0): ``max(1, round(f * n))``.

:func:`scale_budget` returns the new config and the lines describing the change (logged).

>>> from aioir.config.schema import RunConfig, StageConfig
>>> cfg = RunConfig()
>>> cfg.train.steps = 1000
>>> cfg.train.stages = [StageConfig(steps=100), StageConfig(steps=900)]
>>> new, lines = scale_budget(cfg, 20)
>>> new.train.steps, [s.steps for s in new.train.stages], new.train.checkpoint_every
(20, [2, 18], 4)
>>> [s.steps for s in scale_budget(cfg, 1)[0].train.stages]
[1, 1]
"""

from __future__ import annotations

import copy
import math

from aioir.config.errors import ConfigError
from aioir.config.schema import RunConfig, StageConfig


def _shares(lengths: list[int], total: int) -> list[int]:
    """``lengths`` scaled to add up to ``total`` (largest remainder), each at least 1."""
    if total < len(lengths):
        return [1] * len(lengths)
    whole = sum(lengths)
    exact = [n * total / whole for n in lengths]
    out = [max(1, math.floor(x)) for x in exact]
    by_remainder = sorted(range(len(lengths)), key=lambda i: (exact[i] - math.floor(exact[i]), -i),
                          reverse=True)
    i = 0
    while sum(out) < total:
        out[by_remainder[i % len(out)]] += 1
        i += 1
    while sum(out) > total:  # the max(1, .) floors took steps: give them back from the largest
        j = max(range(len(out)), key=lambda k: out[k])
        out[j] -= 1
    return out


def _scaled(value: int, factor: float) -> int:
    return max(1, round(value * factor))


def scale_stages(stages: list[StageConfig], steps: int) -> list[StageConfig]:
    """Copies of ``stages`` lasting ``steps`` steps in all, each keeping its share (largest
    remainder, at least one step each).

    >>> [s.steps for s in scale_stages([StageConfig(steps=1), StageConfig(steps=3)], 10)]
    [3, 7]
    """
    out = copy.deepcopy(list(stages))
    for stage, n in zip(out, _shares([s.steps for s in stages], steps)):
        stage.steps = n
    return out


def scale_budget(cfg: RunConfig, steps: int) -> tuple[RunConfig, list[str]]:
    """A copy of ``cfg`` lasting ``steps`` steps (see the module notes) and the log lines."""
    if steps < 1:
        raise ConfigError(f"--steps must be >= 1, got {steps}")
    if cfg.train.steps < 1:
        raise ConfigError(f"train.steps must be >= 1, got {cfg.train.steps}")
    new = copy.deepcopy(cfg)
    old_total = (cfg.train.stages and sum(s.steps for s in cfg.train.stages)) or cfg.train.steps
    factor = steps / old_total
    lines = [f"budget: {old_total} -> {steps} steps (x{factor:.3g})"]
    if cfg.train.stages:
        new.train.stages = scale_stages(cfg.train.stages, steps)
        lengths = [s.steps for s in new.train.stages]
        new.train.steps = sum(lengths)
        if new.train.steps != steps:
            lines.append(f"  {len(lengths)} stages need at least one step each: "
                         f"{new.train.steps} steps")
        lines.append("  stages: " + ", ".join(
            f"{a.steps}->{b.steps}" for a, b in zip(cfg.train.stages, new.train.stages)))
    else:
        new.train.steps = steps
    if cfg.schedule.warmup_steps:
        first = new.train.stages[0].steps if new.train.stages else new.train.steps
        new.schedule.warmup_steps = min(round(cfg.schedule.warmup_steps * factor), first - 1)
        new.schedule.warmup_steps = max(new.schedule.warmup_steps, 0)
        lines.append(f"  schedule.warmup_steps: {cfg.schedule.warmup_steps}->"
                     f"{new.schedule.warmup_steps}")
    new.train.checkpoint_every = _scaled(cfg.train.checkpoint_every, factor)
    new.train.log_every = _scaled(cfg.train.log_every, factor)
    lines.append(f"  train.checkpoint_every: {cfg.train.checkpoint_every}->"
                 f"{new.train.checkpoint_every}; train.log_every: {cfg.train.log_every}->"
                 f"{new.train.log_every}")
    if cfg.val.every:
        new.val.every = _scaled(cfg.val.every, factor)
        lines.append(f"  val.every: {cfg.val.every}->{new.val.every}")
    return new, lines
