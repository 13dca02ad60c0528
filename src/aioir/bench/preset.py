"""The demo's preset: the run config ``aioir demo`` and ``aioir bench demo[:quick]`` train.

The values are ``presets/demo.yaml`` (shipped with the package): the compared strategies and
their options, the network, the settings every run shares and the budgets (``quick`` an
override of ``default``). A bench preset lives on the bench's floor, so :mod:`aioir.bench.spec`
reads it without importing the demo that runs it (:mod:`aioir.demo` re-exports these names).

>>> cfg = demo_config("art", BUDGETS["quick"])
>>> cfg.model.name, cfg.strategy.options, cfg.train.steps, cfg.data.batch_size
('aware_unet', {'tau': 3.0}, 150, 12)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from aioir.config import from_dict
from aioir.config.schema import MIOIR_TASKS, WHOLE_GROUP, RunConfig

#: the preset file
PRESET = Path(__file__).parent / "presets" / "demo.yaml"
_PRESET: dict[str, Any] = yaml.safe_load(PRESET.read_text(encoding="utf-8"))

#: the compared strategies, the baseline first
STRATEGIES: tuple[str, ...] = tuple(_PRESET["strategies"])
#: the demo's backbone (registry name)
DEMO_MODEL: str = _PRESET["model"]["name"]


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


def _budgets(raw: dict[str, dict[str, Any]]) -> dict[str, DemoBudget]:
    """The preset's budgets; every budget but ``default`` overrides ``default``'s values."""
    known = {f.name for f in fields(DemoBudget)}
    out = {}
    for name, values in raw.items():
        merged = {**raw["default"], **values} if name != "default" else dict(values)
        unknown = sorted(set(merged) - known)
        if unknown:
            raise ValueError(f"{PRESET}: budget {name!r} has unknown keys {unknown} "
                             f"(known: {sorted(known)})")
        out[name] = DemoBudget(**merged)
    return out


#: the budgets by name (``default``; ``quick`` for ``--quick``)
BUDGETS = _budgets(_PRESET["budgets"])


def baseline_of(strategies: Sequence[str]) -> str:
    """The strategy the others are compared with: mixed when it runs, else the first.

    >>> baseline_of(("mixed", "tur")), baseline_of(("tur", "art"))
    ('mixed', 'tur')
    """
    return "mixed" if "mixed" in strategies else strategies[0]


def demo_model_options(width: int) -> dict[str, Any]:
    """The demo backbone's options at ``width``: a U-Net whose output heads (a tone curve, a
    residual tail and a 7 x 7 linear filter fitted in closed form, per task) are chosen by a
    classifier on size-invariant image statistics (linear discriminant analysis, also closed
    form), with a "clean" class routed to the identity. The deployed network needs no task id.
    Why this and not a plain U-Net: the measurements in docs/benchmarks.md ("The demo")."""
    return {"width": width, "num_tasks": len(MIOIR_TASKS), **_PRESET["model"]["options"]}


def demo_config(
    strategy: str, budget: DemoBudget, seed: int = 0, cache: str | None = None
) -> RunConfig:
    """The run config of one demo strategy (identical for all but ``strategy``)."""
    run = copy.deepcopy(_PRESET["run"])
    run["name"] = f"demo-{strategy}"
    run["model"] = {"name": DEMO_MODEL, "options": demo_model_options(budget.width)}
    run["strategy"] = {"name": strategy,
                       "options": dict(_PRESET["strategies"].get(strategy) or {})}
    run["data"].update(tasks=list(MIOIR_TASKS), patch_size=budget.patch_size,
                       batch_size=budget.batch_size, cache=cache)
    run["optim"]["lr"] = budget.lr
    run["schedule"]["warmup_steps"] = max(budget.steps // 20, 1)
    run["train"].update(steps=budget.steps, seed=seed,
                        checkpoint_every=max(budget.steps // 4, 1))
    run["val"]["max_size"] = budget.val_max_size
    run["val"]["group_max_size"] = {WHOLE_GROUP: budget.whole_max_size}
    return from_dict(RunConfig, run)
