"""Degrade clean images on the fly: the training dataset and the fixed evaluation set.

:class:`SyntheticTaskDataset` — sample ``i`` is a pure function of ``(seed, i)``
(see :mod:`aioir.data.sampling`). In order, it draws from ``default_rng([seed, i])``:

1. the task: balanced (block schedule, exactly one of each task per block of ``K`` indices) or a
   uniform ``random`` draw;
2. a clean image (uniform over the source);
3. a ``patch_size`` window (images smaller than the patch are reflect-padded at the bottom/right
   first; ``patch_size=None`` keeps the full image);
4. one of the 8 flips/rotations when ``augment``;
5. the degradation ``degrade(task, patch, rng, dist=dist)`` (default
   :func:`aioir.degradations.apply`), then 8-bit rounding of the LQ when ``quantize`` (MiOIR
   stores its degraded copies as 8-bit files);
6. with ``views >= 2``, a region twice the patch size is degraded instead and ``views``
   patch-size crops are cut from it (AirNet's contrastive encoder sees two crops of one
   degraded image); view 0 is the training ``lq``.

The patch is cut **before** degrading, for speed. MiOIR degrades whole images then crops; for the
local degradations (blur, noise, JPEG, SR, rain, dark) the distribution of a degraded patch is
the same, up to border effects within a kernel radius; for haze the pseudo-depth is computed from
the patch instead of the full image.

>>> import numpy as np
>>> from aioir.data.sources import EmbeddedPhotos
>>> def darken(task, img, rng, dist="in"):
...     return img * 0.5, {}
>>> ds = SyntheticTaskDataset(EmbeddedPhotos("test"), ["dark"], patch_size=16, seed=0,
...                           length=4, degrade=darken)
>>> s = ds[0]
>>> tuple(s["lq"].shape), tuple(s["gt"].shape), s["task_id"]
((3, 16, 16), (3, 16, 16), 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from aioir.data.io import to_tensor
from aioir.data.sampling import choose, sample_rng
from aioir.data.sources import ImageSource
from aioir.data.transforms import (
    PatchSize,
    center_crop,
    dihedral,
    quantize8,
    as_hw,
    random_crop,
)

#: ``degrade(task, img, rng, *, dist) -> (degraded img, params)``
DegradeFn = Callable[..., tuple[np.ndarray, dict]]


def default_degrade() -> DegradeFn:
    """:func:`aioir.degradations.apply`, imported when first needed."""
    from aioir.degradations import apply

    return apply


def run_degrade(
    degrade: DegradeFn,
    task: str,
    img: np.ndarray,
    rng: np.random.Generator,
    dist: str,
    quantize: bool,
) -> np.ndarray:
    """Degrade ``img`` for ``task``, check the result and optionally round it to 8 bits."""
    out = degrade(task, np.array(img, dtype=np.float32), rng, dist=dist)
    lq = out[0] if isinstance(out, tuple) else out
    lq = np.asarray(lq, dtype=np.float32)
    if lq.shape != img.shape:
        raise ValueError(f"degradation {task!r} changed the image shape {img.shape} -> {lq.shape}")
    lq = np.clip(lq, 0.0, 1.0)
    return quantize8(lq) if quantize else lq


def view_windows(
    region_hw: tuple[int, int], size: tuple[int, int], views: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """``views`` random top-left corners of ``size`` windows inside a region of ``region_hw``."""
    (rh, rw), (h, w) = region_hw, size
    return [(int(rng.integers(0, rh - h + 1)), int(rng.integers(0, rw - w + 1))) for _ in range(views)]


def check_views(views: int, patch_size: PatchSize) -> int:
    """Views are same-size crops of one degraded region: they need a patch size."""
    if views < 1:
        raise ValueError(f"views must be >= 1, got {views}")
    if views >= 2 and patch_size is None:
        raise ValueError("views >= 2 needs a patch_size (views are patch-size crops)")
    return int(views)


def cut_views(
    lq: np.ndarray, gt: np.ndarray, size: PatchSize, views: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Sample dict with ``views`` random ``size`` crops of ``lq`` (view 0 is ``lq``, with ``gt``)."""
    h, w = as_hw(size)
    corners = view_windows(lq.shape[:2], (h, w), views, rng)
    crops = [lq[y : y + h, x : x + w] for y, x in corners]
    y0, x0 = corners[0]
    return {
        "lq": to_tensor(crops[0]),
        "gt": to_tensor(gt[y0 : y0 + h, x0 : x0 + w]),
        "lq_views": torch.stack([to_tensor(c) for c in crops]),
    }


class SyntheticTaskDataset(torch.utils.data.Dataset):
    """Clean images from ``source`` degraded on the fly into ``tasks`` (ids ``0..K-1`` in order).

    Returns ``{"lq": (C,h,w), "gt": (C,h,w), "task_id": int}``, float32 in ``[0, 1]``.
    ``length`` is the number of samples per epoch.

    With ``views >= 2`` (AirNet's contrastive encoder: two crops of one degraded image, as its
    official loader cuts them), a region twice the patch size is degraded once and ``views``
    patch-size windows are cut from it at independent random positions: ``"lq_views"`` is
    ``(V, C, h, w)``, view 0 is ``lq`` itself and ``gt`` is its clean counterpart.
    """

    def __init__(
        self,
        source: ImageSource,
        tasks: Sequence[str],
        patch_size: PatchSize,
        seed: int,
        length: int,
        dist: str = "in",
        augment: bool = True,
        quantize: bool = True,
        degrade: DegradeFn | None = None,
        balance: str = "balanced",
        views: int = 1,
    ) -> None:
        if len(tasks) == 0:
            raise ValueError("need at least one task")
        if len(source) == 0:
            raise ValueError("the image source is empty")
        if length < 1:
            raise ValueError(f"length must be positive, got {length}")
        if balance not in ("balanced", "random"):
            raise ValueError(f"unknown balance {balance!r}; expected 'balanced' or 'random'")
        self.source = source
        self.tasks = list(tasks)
        self.patch_size = patch_size
        self.seed = int(seed)
        self.length = int(length)
        self.dist = dist
        self.augment = augment
        self.quantize = quantize
        self.balance = balance
        self.views = check_views(views, patch_size)
        self._degrade = degrade

    @property
    def degrade(self) -> DegradeFn:
        if self._degrade is None:
            self._degrade = default_degrade()
        return self._degrade

    def __len__(self) -> int:
        return self.length

    def task_of(self, index: int) -> int:
        """Task id of sample ``index`` (without building the sample)."""
        return choose(self.seed, index, len(self.tasks), sample_rng(self.seed, index), self.balance)

    def sample(self, index: int, rng: np.random.Generator) -> dict[str, Any]:
        """Build sample ``index`` drawing everything random from ``rng`` (the balanced task
        schedule uses ``(self.seed, index)``)."""
        task_id = choose(self.seed, index, len(self.tasks), rng, self.balance)
        img = self.source[int(rng.integers(len(self.source)))]
        if self.patch_size is None:
            region_size = None
        else:
            ph, pw = as_hw(self.patch_size)
            region_size = (2 * ph, 2 * pw) if self.views >= 2 else (ph, pw)
        gt = img if region_size is None else random_crop([img], region_size, rng)[0]
        if self.augment:
            gt = dihedral(gt, int(rng.integers(8)))
        gt = np.ascontiguousarray(gt, dtype=np.float32)
        lq = run_degrade(self.degrade, self.tasks[task_id], gt, rng, self.dist, self.quantize)
        if self.views < 2:
            return {"lq": to_tensor(lq), "gt": to_tensor(gt), "task_id": task_id}
        return {**cut_views(lq, gt, (ph, pw), self.views, rng), "task_id": task_id}

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.length:
            raise IndexError(f"sample index {index} out of range for length {self.length}")
        return self.sample(index, sample_rng(self.seed, index))


@dataclass(frozen=True)
class TestSample:
    """One evaluation pair: HWC float32 arrays, the task and the clean image's name."""

    lq: np.ndarray
    gt: np.ndarray
    task: str
    task_id: int
    name: str

    def tensors(self) -> dict[str, Any]:
        """The pair as a training-style sample dict (CHW tensors)."""
        return {"lq": to_tensor(self.lq), "gt": to_tensor(self.gt), "task_id": self.task_id}


class FixedTestSet:
    """Every image of ``source`` degraded once for every task, deterministically.

    Item ``t * len(source) + j`` is image ``j`` under task ``t``, degraded with
    ``default_rng([seed, t, j])``; images are centre-cropped to at most ``max_size`` per side and
    to a multiple of ``multiple`` (8 by default, so x4 SR and U-Net backbones divide evenly).
    Items are built on first access and kept, so the arrays are identical every time and for
    every instance built with the same arguments.
    """

    def __init__(
        self,
        source: ImageSource,
        tasks: Sequence[str],
        seed: int = 0,
        max_size: int | None = None,
        multiple: int = 8,
        dist: str = "in",
        quantize: bool = True,
        degrade: DegradeFn | None = None,
    ) -> None:
        if len(tasks) == 0 or len(source) == 0:
            raise ValueError("a test set needs at least one task and one image")
        self.source = source
        self.tasks = list(tasks)
        self.seed = int(seed)
        self.max_size = max_size
        self.multiple = int(multiple)
        self.dist = dist
        self.quantize = quantize
        self._degrade = degrade
        self._items: dict[int, TestSample] = {}

    def __len__(self) -> int:
        return len(self.tasks) * len(self.source)

    def __getitem__(self, index: int) -> TestSample:
        if not 0 <= index < len(self):
            raise IndexError(f"test sample index {index} out of range for {len(self)} samples")
        if index not in self._items:
            t, j = divmod(index, len(self.source))
            gt = center_crop(self.source[j], self.max_size, self.multiple)
            gt = np.ascontiguousarray(gt, dtype=np.float32)
            degrade = self._degrade if self._degrade is not None else default_degrade()
            rng = np.random.default_rng([self.seed, t, j])
            lq = run_degrade(degrade, self.tasks[t], gt, rng, self.dist, self.quantize)
            gt.flags.writeable = False
            lq.flags.writeable = False
            self._items[index] = TestSample(lq, gt, self.tasks[t], t, self.source.names[j])
        return self._items[index]

    def __iter__(self):  # noqa: ANN204 - a plain generator of TestSample
        return (self[i] for i in range(len(self)))

    def for_task(self, task: str) -> list[TestSample]:
        """All samples of one task, in image order."""
        t = self.tasks.index(task)
        n = len(self.source)
        return [self[t * n + j] for j in range(n)]
