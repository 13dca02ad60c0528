"""The one training mixer: components (one per task source) mixed into one sample stream.

Sample ``i`` is a pure function of ``(seed, i)`` and **any index >= 0** is valid (the engine's
step sampler hands out ever-growing indices). A component offers ``len()`` and
``sample(item, rng) -> dict`` (:class:`aioir.data.synthetic.SyntheticTask`,
:class:`aioir.data.paired.PairedDataset`); its crops, flips and degradations draw from the
sample's generator ``default_rng([seed, i])``, so repeated copies of an item get fresh patches.

``balance``:

* ``"balanced"``: blocks of ``K`` consecutive indices hold every component once (order from
  ``(seed, block)``, :func:`aioir.data.sampling.balanced_choice`); the item is drawn uniformly
  from the sample's generator. ``"random"``: the component is a uniform draw per sample.
* ``"concat"``: the official AirNet/PromptIR list repetition made explicit: one epoch is every
  component's items ``repeat`` times (noise x3, rain x120), visited in a permutation drawn from
  ``(seed, epoch)`` (the official loaders shuffle every epoch); index ``i`` falls in epoch
  ``i // epoch_length``, so later epochs are fresh permutations rather than an error.

``segments`` restrict the mix by index range: a :class:`Segment` from sample ``start`` on draws
only from its ``components`` (a training stage with a task subset). Inside a segment the
schedule counts from the segment's start in a stream of its own (segment ``s`` > 0 salts the
block and epoch permutations with ``s``), so every block of a balanced segment holds each of
its components once. Without segments (or with one segment of every component from index 0) the
stream is the plain one.

>>> import numpy as np
>>> class Items:                                   # a stand-in component
...     def __init__(self, n): self.n = n
...     def __len__(self): return self.n
...     def sample(self, item, rng): return {"item": item}
>>> mix = TaskMix([Items(2), Items(3)], balance="concat", seed=0, length=4, repeats=[2, 1])
>>> mix.epoch_length(), sorted(mix.locate(i)[0] for i in range(7))
(7, [0, 0, 0, 0, 1, 1, 1])
>>> mix[10**9]["task_id"] in (0, 1)
True
>>> staged = TaskMix([Items(2), Items(3)], "balanced", 0, 8,
...                  segments=[Segment(0, (0, 1)), Segment(4, (1,))])
>>> [staged[i]["task_id"] for i in range(4, 8)]
[1, 1, 1, 1]
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import torch

from aioir.data.sampling import balanced_choice, sample_rng

#: salt of the per-epoch permutation streams of ``balance="concat"``
EPOCH_TAG = 0xE90C
BALANCES = ("balanced", "random", "concat")


@dataclass(frozen=True)
class Segment:
    """From sample index ``start`` on (until the next segment), draw from ``components`` only."""

    start: int
    components: tuple[int, ...]


class TaskMix(torch.utils.data.Dataset):
    """Components mixed by ``balance``; ``task_ids[k]`` is the task id of component ``k``'s
    samples (default ``k``); ``repeats`` are the ``concat`` repetition factors. ``len()`` is
    ``length`` (what the engine asked for), but every index >= 0 is accepted."""

    def __init__(
        self,
        components: Sequence[Any],
        balance: str = "balanced",
        seed: int = 0,
        length: int = 1,
        repeats: Sequence[int] | None = None,
        task_ids: Sequence[int] | None = None,
        segments: Sequence[Segment] | None = None,
    ) -> None:
        if not components or any(len(c) == 0 for c in components):
            raise ValueError(f"every source needs items; sizes {[len(c) for c in components]}")
        if balance not in BALANCES:
            raise ValueError(f"unknown balance {balance!r}; expected balanced, random or concat")
        n = len(components)
        self.components = list(components)
        self.balance = balance
        self.seed = int(seed)
        self.length = max(int(length), 1)
        self.task_ids = [int(t) for t in task_ids] if task_ids is not None else list(range(n))
        if len(self.task_ids) != n:
            raise ValueError(f"{len(self.task_ids)} task_ids for {n} components")
        self.repeats = [int(r) for r in (repeats or [1] * n)]
        if len(self.repeats) != n or min(self.repeats) < 1:
            raise ValueError(f"repeats must be one positive int per component, got {repeats}")
        segs = list(segments) if segments else [Segment(0, tuple(range(n)))]
        if segs[0].start != 0 or any(b.start <= a.start for a, b in pairwise(segs)):
            raise ValueError("segments must start at 0 and be in increasing order")
        for s in segs:
            if not s.components or any(not 0 <= k < n for k in s.components):
                raise ValueError(f"segment {s} names components outside 0..{n - 1}")
        self.segments = segs
        self._starts = [s.start for s in segs]
        self._ends = [np.cumsum([len(self.components[k]) * self.repeats[k] for k in s.components])
                      for s in segs]
        self._perm: tuple[int, int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.length

    def epoch_length(self, segment: int = 0) -> int:
        """Samples in one ``concat`` epoch of ``segment``: ``sum(len(component) * repeat)``."""
        return int(self._ends[segment][-1])

    def _permutation(self, segment: int, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[:2] != (segment, epoch):
            key = [self.seed, epoch, EPOCH_TAG] + ([segment] if segment else [])
            perm = np.random.default_rng(key).permutation(self.epoch_length(segment))
            self._perm = (segment, epoch, perm)
        return self._perm[2]

    def segment_of(self, index: int) -> int:
        """The segment sample ``index`` belongs to."""
        return bisect.bisect_right(self._starts, int(index)) - 1

    def locate(self, index: int) -> tuple[int, int | None]:
        """``(component, item)`` of sample ``index``; item None: drawn from the sample's rng."""
        s = self.segment_of(index)
        comps = self.segments[s].components
        local = int(index) - self._starts[s]
        if self.balance == "balanced":
            return comps[balanced_choice(self.seed, local, len(comps), stream=s)], None
        if self.balance == "random":
            return comps[int(sample_rng(self.seed, index).integers(len(comps)))], None
        epoch, pos = divmod(local, self.epoch_length(s))
        slot = int(self._permutation(s, epoch)[pos])
        j = int(np.searchsorted(self._ends[s], slot, side="right"))
        start = int(self._ends[s][j - 1]) if j else 0
        k = comps[j]
        return k, (slot - start) % len(self.components[k])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            raise IndexError(f"sample index must be >= 0, got {index}")
        k, item = self.locate(index)
        rng = sample_rng(self.seed, index)
        if self.balance == "random":
            rng.integers(len(self.segments[self.segment_of(index)].components))  # as locate()
        if item is None:
            item = int(rng.integers(len(self.components[k])))
        sample = self.components[k].sample(item, rng)
        sample["task_id"] = int(self.task_ids[k])
        return sample

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_perm": None}
