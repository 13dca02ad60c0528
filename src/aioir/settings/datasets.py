"""Training datasets of a setting: one component per task source, mixed into one stream.

Sample ``i`` is a pure function of ``(seed, i)`` and **any index >= 0** is valid (the engine's
step sampler hands out ever-growing indices):

* ``balance="balanced"``: blocks of ``K`` consecutive indices hold every task once (order from
  ``(seed, block)``, :func:`aioir.data.sampling.balanced_choice`); the item of the task's
  source is drawn uniformly. ``"random"``: the task is a uniform draw per sample.
* ``balance="concat"``: the official AirNet/PromptIR list repetition made explicit: one epoch is
  every source's items ``repeat`` times (noise x3, rain x120), visited in a permutation drawn
  from ``(seed, epoch)`` (the official loaders shuffle every epoch); index ``i`` falls in epoch
  ``i // epoch_length``, so later epochs are fresh permutations rather than an error.

Crops, flips and synthetic degradations draw from ``default_rng([seed, i])``, so repeated
copies of one item get fresh patches.

>>> import numpy as np
>>> class Items:                                   # a stand-in source with a sample() method
...     def __init__(self, n): self.n = n
...     def __len__(self): return self.n
...     def sample(self, index, rng): return {"item": index}
>>> mix = SettingMix([Items(2), Items(3)], balance="concat", seed=0, length=4, repeats=[2, 1])
>>> mix.epoch_length, sorted(mix.locate(i)[0] for i in range(7))
(7, [0, 0, 0, 0, 1, 1, 1])
>>> mix[10**9]["task_id"] in (0, 1)
True
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from aioir.data.sampling import balanced_choice, sample_rng

#: salt of the per-epoch permutation streams of ``balance="concat"``
EPOCH_TAG = 0xE90C


def name_seed(name: str) -> int:
    """A stable 64-bit integer from a file name (noise of a test image does not depend on
    which other files are present).

    >>> name_seed("a.png") == name_seed("a.png") != name_seed("b.png")
    True
    """
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


class PairList:
    """LQ/GT file pairs as training samples: the same random ``patch_size`` window of both
    (reflect-padded when smaller) and the same flip/rotation when ``augment``."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]], patch_size: Any, augment: bool) -> None:
        if not pairs:
            raise ValueError("no LQ/GT pairs")
        self.pairs = list(pairs)
        self.patch_size = patch_size
        self.augment = augment

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        from aioir.data.io import read_image, to_tensor
        from aioir.data.transforms import dihedral, random_crop

        lq_path, gt_path = self.pairs[index % len(self.pairs)]
        lq, gt = read_image(lq_path), read_image(gt_path)
        if lq.shape != gt.shape:
            raise ValueError(f"LQ {lq_path} is {lq.shape[:2]} but GT {gt_path} is {gt.shape[:2]}")
        if self.patch_size is not None:
            lq, gt = random_crop([lq, gt], self.patch_size, rng)
        if self.augment:
            k = int(rng.integers(8))
            lq, gt = dihedral(lq, k), dihedral(gt, k)
        return {"lq": to_tensor(lq), "gt": to_tensor(gt), "task_id": 0}


class CleanList:
    """Clean images degraded on the fly by the :mod:`aioir.degradations` task ``degrade``:
    patch first, then flip/rotation, then the degradation, then 8-bit rounding (``quantize``),
    as :class:`aioir.data.synthetic.SyntheticTaskDataset` does."""

    def __init__(self, source: Any, degrade: str, patch_size: Any, augment: bool,
                 quantize: bool = True, dist: str = "in") -> None:
        self.source = source
        self.degrade = degrade
        self.patch_size = patch_size
        self.augment = augment
        self.quantize = quantize
        self.dist = dist

    def __len__(self) -> int:
        return len(self.source)

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        from aioir.data.io import to_tensor
        from aioir.data.synthetic import default_degrade, run_degrade
        from aioir.data.transforms import dihedral, random_crop

        gt = self.source[index % len(self.source)]
        if self.patch_size is not None:
            gt = random_crop([gt], self.patch_size, rng)[0]
        if self.augment:
            gt = dihedral(gt, int(rng.integers(8)))
        gt = np.ascontiguousarray(gt, dtype=np.float32)
        lq = run_degrade(default_degrade(), self.degrade, gt, rng, self.dist, self.quantize)
        return {"lq": to_tensor(lq), "gt": to_tensor(gt), "task_id": 0}


class SettingMix(torch.utils.data.Dataset):
    """Components (one per training source) mixed by ``balance``; ``task_ids[k]`` is the task
    id of component ``k``'s samples. ``len()`` is ``length`` (what the engine asked for), but
    every index >= 0 is accepted (see the module notes)."""

    def __init__(self, components: Sequence[Any], balance: str, seed: int, length: int,
                 repeats: Sequence[int] | None = None, task_ids: Sequence[int] | None = None
                 ) -> None:
        if not components or any(len(c) == 0 for c in components):
            raise ValueError(f"every source needs items; sizes {[len(c) for c in components]}")
        if balance not in ("balanced", "random", "concat"):
            raise ValueError(f"unknown balance {balance!r}; expected balanced, random or concat")
        self.components = list(components)
        self.balance = balance
        self.seed = int(seed)
        self.length = max(int(length), 1)
        self.task_ids = list(task_ids) if task_ids is not None else list(range(len(components)))
        self.repeats = [int(r) for r in (repeats or [1] * len(components))]
        self._ends = np.cumsum([len(c) * r for c, r in zip(self.components, self.repeats)])
        self._perm: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.length

    @property
    def epoch_length(self) -> int:
        """Samples in one ``concat`` epoch: ``sum(len(component) * repeat)``."""
        return int(self._ends[-1])

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch, EPOCH_TAG])
            self._perm = (epoch, rng.permutation(self.epoch_length))
        return self._perm[1]

    def locate(self, index: int) -> tuple[int, int | None]:
        """``(component, item)`` of sample ``index``; item None: drawn from the sample's rng."""
        n = len(self.components)
        if self.balance == "balanced":
            return balanced_choice(self.seed, index, n), None
        if self.balance == "random":
            return int(sample_rng(self.seed, index).integers(n)), None
        epoch, pos = divmod(int(index), self.epoch_length)
        slot = int(self._permutation(epoch)[pos])
        k = int(np.searchsorted(self._ends, slot, side="right"))
        start = int(self._ends[k - 1]) if k else 0
        return k, (slot - start) % len(self.components[k])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            raise IndexError(f"sample index must be >= 0, got {index}")
        k, item = self.locate(index)
        rng = sample_rng(self.seed, index)
        if self.balance == "random":
            rng.integers(len(self.components))  # the task draw, consumed as in locate()
        if item is None:
            item = int(rng.integers(len(self.components[k])))
        sample = self.components[k].sample(item, rng)
        sample["task_id"] = int(self.task_ids[k])
        return sample


def build_components(setting: Any, root: str | Path, data_cfg: Any) -> tuple[list, list[int],
                                                                              list[int]]:
    """The training components of ``setting`` under ``root`` with their task ids and repeat
    factors. A source with problems raises ``ValueError`` listing them (run
    ``aioir data check`` for the whole picture)."""
    from aioir.data.sources import FolderSource

    patch = getattr(data_cfg, "patch_size", None)
    augment = bool(getattr(data_cfg, "augment", True))
    quantize = bool(getattr(data_cfg, "quantize", True))
    dist = getattr(data_cfg, "dist", "in")
    sources: dict[str, FolderSource] = {}
    comps, ids, repeats = [], [], []
    for col in setting.train_sources(root):
        spec = col.spec
        if not col.ok:
            head = "\n  ".join(col.problems[:10])
            more = f"\n  ... ({len(col.problems) - 10} more)" if len(col.problems) > 10 else ""
            raise ValueError(
                f"setting {setting.name!r}, training source of {spec.task!r} under {root}:\n  "
                f"{head}{more}\nrun `aioir data check {setting.name} --root {root}`")
        if spec.kind == "synthetic":
            folder = str(Path(root) / str(spec.clean))
            if folder not in sources:  # one decoded cache shared by denoise_15/25/50
                sources[folder] = FolderSource(folder)
            comps.append(CleanList(sources[folder], str(spec.degrade), patch, augment,
                                   quantize, dist))
        else:
            comps.append(PairList(col.pairs, patch, augment))
        ids.append(setting.task_names.index(spec.task))
        repeats.append(spec.repeat)
    return comps, ids, repeats


def build_train_dataset(setting: Any, root: str | Path, data_cfg: Any, seed: int,
                        length: int) -> SettingMix:
    """The training stream of ``setting`` (see the module notes); ``data_cfg`` supplies
    ``patch_size``, ``augment``, ``quantize``, ``dist`` and ``balance``."""
    comps, ids, repeats = build_components(setting, root, data_cfg)
    balance = getattr(data_cfg, "balance", "balanced")
    return SettingMix(comps, balance, seed, length,
                      repeats=repeats if balance == "concat" else None, task_ids=ids)
