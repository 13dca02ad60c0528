"""Deterministic, resumable batch indices.

The batch of optimizer step ``s`` holds the global sample indices ``[s*B, (s+1)*B)``; under
data-parallel training rank ``r`` of ``W`` takes the contiguous slice ``r*B/W ... (r+1)*B/W``
of it, so the union over ranks is exactly the single-process batch. Since a dataset sample is a
pure function of ``(seed, index)``, resuming at step ``s`` needs nothing but ``s``. Indices grow
without bound: datasets accept any index >= 0 (finite ones map it onto an epoch and an item).

>>> list(StepBatchSampler(batch_size=4, start_step=2, total_steps=3))
[[8, 9, 10, 11]]
>>> list(StepBatchSampler(batch_size=4, start_step=0, total_steps=1, rank=1, world_size=2))
[[2, 3]]
"""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import Sampler


class StepBatchSampler(Sampler[list[int]]):
    """Yields the index lists of steps ``start_step .. total_steps - 1`` for one rank."""

    def __init__(
        self,
        batch_size: int,
        start_step: int,
        total_steps: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size % world_size:
            raise ValueError(
                f"batch_size {batch_size} must be divisible by the number of ranks {world_size}"
            )
        self.batch_size = batch_size
        self.start_step = start_step
        self.total_steps = total_steps
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return max(self.total_steps - self.start_step, 0)

    def __iter__(self) -> Iterator[list[int]]:
        per_rank = self.batch_size // self.world_size
        for step in range(self.start_step, self.total_steps):
            first = step * self.batch_size + self.rank * per_rank
            yield list(range(first, first + per_rank))
