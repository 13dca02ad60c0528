"""Mix per-task datasets into one training stream, with the task balance made explicit.

``balance="balanced"``: every task (component dataset) is equally likely, exactly: indices come
in blocks of ``N`` (the number of components) and each block visits every component once, in an
order drawn from ``(seed, block)``; within the component an item is drawn uniformly.
``length`` defaults to the total size of the components.

``balance="concat"``: the official AirNet/PromptIR loaders' list repetition: component ``k``'s
items repeated ``repeats[k]`` times, one after another (e.g. noise x3, rain x120); the mix then
follows the list sizes, which is why it is named here rather than hidden.

Sample ``i`` is a pure function of ``(seed, i)``: components that offer
``sample(index, rng)`` (all aioir datasets) draw their crops and flips from
``default_rng([seed, i])``, so repeated copies of an item get fresh crops; other datasets are
indexed plainly. ``task_ids`` optionally overrides the ``task_id`` of each component's samples.

>>> import torch
>>> class Const(torch.utils.data.Dataset):
...     def __init__(self, tid, n): self.tid, self.n = tid, n
...     def __len__(self): return self.n
...     def __getitem__(self, i): return {"task_id": self.tid}
>>> mix = ConcatTaskDataset([Const(0, 2), Const(1, 50)], balance="balanced", seed=0, length=10)
>>> sum(mix[i]["task_id"] for i in range(10))
5
>>> len(ConcatTaskDataset([Const(0, 2), Const(1, 5)], balance="concat", repeats=[3, 1]))
11
"""

from __future__ import annotations

import bisect
from typing import Any, Sequence

import torch

from aioir.data.sampling import balanced_choice, sample_rng


class ConcatTaskDataset(torch.utils.data.Dataset):
    """Mix of ``datasets`` (one per task) by ``balance`` ``"balanced"`` or ``"concat"``."""

    def __init__(
        self,
        datasets: Sequence[Any],
        balance: str = "balanced",
        seed: int = 0,
        length: int | None = None,
        repeats: Sequence[int] | None = None,
        task_ids: Sequence[int] | None = None,
    ) -> None:
        if not datasets:
            raise ValueError("need at least one dataset to mix")
        if any(len(d) == 0 for d in datasets):
            sizes = [len(d) for d in datasets]
            raise ValueError(f"empty dataset among the components: sizes {sizes}")
        if task_ids is not None and len(task_ids) != len(datasets):
            raise ValueError(f"{len(task_ids)} task_ids for {len(datasets)} datasets")
        self.datasets = list(datasets)
        self.balance = balance
        self.seed = int(seed)
        self.task_ids = None if task_ids is None else [int(t) for t in task_ids]
        if balance == "balanced":
            if repeats is not None:
                raise ValueError("repeats only applies to balance='concat'")
            self.length = sum(len(d) for d in datasets) if length is None else int(length)
        elif balance == "concat":
            if length is not None:
                raise ValueError(
                    "balance='concat' has the length sum(len(d) * repeat); do not pass length"
                )
            self.repeats = [1] * len(datasets) if repeats is None else [int(r) for r in repeats]
            if len(self.repeats) != len(datasets) or min(self.repeats) < 1:
                raise ValueError(f"repeats must be one positive int per dataset, got {repeats}")
            self._ends: list[int] = []
            total = 0
            for d, r in zip(self.datasets, self.repeats):
                total += len(d) * r
                self._ends.append(total)
            self.length = total
        else:
            raise ValueError(f"unknown balance {balance!r}; expected 'balanced' or 'concat'")
        if self.length < 1:
            raise ValueError(f"length must be positive, got {self.length}")

    def __len__(self) -> int:
        return self.length

    def locate(self, index: int) -> tuple[int, int | None]:
        """``(component, item)`` of sample ``index``; item is None when drawn at random
        (balanced)."""
        if self.balance == "balanced":
            return balanced_choice(self.seed, index, len(self.datasets)), None
        k = bisect.bisect_right(self._ends, index)
        start = self._ends[k - 1] if k else 0
        return k, (index - start) % len(self.datasets[k])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.length:
            raise IndexError(f"sample index {index} out of range for length {self.length}")
        rng = sample_rng(self.seed, index)
        k, item = self.locate(index)
        dataset = self.datasets[k]
        if item is None:
            item = int(rng.integers(len(dataset)))
        sample = dataset.sample(item, rng) if hasattr(dataset, "sample") else dataset[item]
        if self.task_ids is not None:
            sample = {**sample, "task_id": self.task_ids[k]}
        return sample
