"""Strategies: how the per-task losses of a batch become one update.

>>> import torch
>>> from aioir import strategies
>>> s = strategies.build("mixed", num_tasks=3)
>>> out = s(torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4), torch.tensor([0, 2]))
>>> float(out.loss), out.present.tolist()
(1.0, [True, False, True])
"""

from __future__ import annotations

from typing import Any

from aioir.registry import Registry
from aioir.strategies.base import Strategy, StrategyOutput

STRATEGIES = Registry("strategy", package="aioir.strategies")


def build(name: str, num_tasks: int, **options: Any) -> Strategy:
    """Build the strategy registered as ``name`` for ``num_tasks`` tasks."""
    return STRATEGIES.build(name, num_tasks=num_tasks, **options)


def names() -> list[str]:
    """Registered strategy names."""
    return STRATEGIES.names()


__all__ = ["STRATEGIES", "Strategy", "StrategyOutput", "build", "names"]
