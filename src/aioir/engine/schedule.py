"""Learning rate as a pure function of the step (nothing to checkpoint but the step).

>>> lr_at(0, base_lr=1.0, total_steps=10, warmup_steps=2)
0.5
>>> lr_at(2, base_lr=1.0, total_steps=10, warmup_steps=2)
1.0
>>> round(lr_at(10, base_lr=1.0, total_steps=10, warmup_steps=2, min_lr=0.0), 12)
0.0
"""

from __future__ import annotations

import math


def lr_at(
    step: int,
    *,
    base_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    min_lr: float = 0.0,
    name: str = "cosine",
) -> float:
    """Learning rate used for optimizer step ``step`` (0-based).

    Linear warm-up over ``warmup_steps`` (step ``s`` uses ``base_lr * (s + 1) / warmup_steps``),
    then ``name``: ``cosine`` decays from ``base_lr`` to ``min_lr`` over the remaining steps
    (as ``CosineAnnealingLR``), ``constant`` stays at ``base_lr``.
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if name == "constant":
        return base_lr
    if name != "cosine":
        raise ValueError(f"unknown schedule {name!r}; known: cosine, constant")
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
