"""Test sets: lazy iterables of ``(lq HWC, gt HWC, column, name)`` for the evaluators.

* :class:`PairedTestSet` reads LQ/GT file pairs in order;
* :class:`SyntheticTestSet` degrades every clean image of a source once, deterministically:
  image ``j`` (relative name ``name``) under the set's task is degraded with
  :func:`aioir.data.sampling.name_rng` ``(seed, name)`` (``key="name"``: adding a file changes
  no other image) or with ``default_rng([seed, task_index, j])`` (``key="index"``: the embedded
  test set's rule), then rounded to 8 bits (the noisy images PromptIR/AirNet evaluate are
  ``uint8``).

Both centre-crop every image to at most ``max_size`` per side (``None``: whole) and to a
multiple of ``multiple`` (PromptIR's ``crop_img(base=16)``; 8 for the embedded set) — a
synthetic set crops the clean image before degrading it — and ``max_images`` keeps that many
evenly spaced images (cheap periodic validation). Each has ``column`` (its table column),
``task`` and ``group``.

A synthetic set can also cut every (cropped) clean image into a centred grid of ``tile x tile``
tiles and degrade each tile on its own (``tile``): more test images from the same photographs,
each an independent degradation (its own generator: ``[seed, task_index, j, k]`` with
``key="index"``, the tile's name with ``key="name"``), so a paired difference between two
networks is measured on many images instead of a few. A tile is named ``NAME@rRcC``.

>>> from aioir.data.sources import EmbeddedPhotos
>>> ts = SyntheticTestSet(EmbeddedPhotos("test"), "noise", seed=1, key="index", max_size=32,
...                       multiple=8, max_images=2)
>>> len(ts), [(lq.shape, column, name) for lq, gt, column, name in ts]
(2, [((32, 32, 3), 'noise', 'chelsea'), ((32, 32, 3), 'noise', 'rocket')])
>>> tiles = SyntheticTestSet(EmbeddedPhotos("test"), "noise", seed=1, key="index", max_size=64,
...                          multiple=8, tile=32)
>>> len(tiles), [name for _, _, _, name in tiles][:4]
(12, ['chelsea@r0c0', 'chelsea@r0c1', 'chelsea@r1c0', 'chelsea@r1c1'])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from aioir.data.paired import PairedDataset
from aioir.data.sampling import name_rng
from aioir.data.sources import ImageSource
from aioir.data.synthetic import DegradeFn, run_degrade
from aioir.data.transforms import center_crop
from aioir.degradations import apply as apply_degradation

Sample = tuple[np.ndarray, np.ndarray, str, str]


def spread(n: int, limit: int | None) -> list[int]:
    """``limit`` evenly spaced indices of ``range(n)`` (all of them when ``limit`` is None or
    at least ``n``).

    >>> spread(10, 3), spread(2, 5)
    ([0, 5, 9], [0, 1])
    """
    if limit is None or limit >= n:
        return list(range(n))
    if limit < 1:
        raise ValueError(f"max_images must be >= 1, got {limit}")
    if limit == 1:
        return [0]
    return sorted({int(i * (n - 1) / (limit - 1) + 0.5) for i in range(limit)})


class _TestSet:
    __test__ = False  # not a pytest class

    column: str
    task: str
    group: str

    def __init__(self, n: int, *, column: str, task: str, group: str, max_size: int | None,
                 multiple: int, max_images: int | None) -> None:  # n: the number of test images
        self.column, self.task, self.group = column, task, group
        self.max_size = max_size
        self.multiple = max(int(multiple), 1)
        self.indices = spread(n, max_images)

    def __len__(self) -> int:
        return len(self.indices)

    def crop(self, img: np.ndarray, name: str = "") -> np.ndarray:
        if self.max_size is None and self.multiple <= 1:
            return img
        try:
            return np.ascontiguousarray(center_crop(img, self.max_size, self.multiple))
        except ValueError as exc:  # e.g. a 1 x 1 image under crop_multiple 8
            raise ValueError(f"test image {name} ({self.column}): {exc}") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.column!r}, {len(self)} images)"


class PairedTestSet(_TestSet):
    """LQ/GT file ``pairs`` named ``names`` (default: the LQ file names)."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]], *, column: str, task: str = "",
                 names: Sequence[str] | None = None, group: str = "main",
                 max_size: int | None = None, multiple: int = 1,
                 max_images: int | None = None) -> None:
        super().__init__(len(pairs), column=column, task=task or column, group=group,
                         max_size=max_size, multiple=multiple, max_images=max_images)
        self.reader = PairedDataset(pairs, names=names)  # the one paired reader
        self.names = self.reader.names

    def __iter__(self) -> Iterator[Sample]:
        for k in self.indices:
            lq, gt = self.reader.load_pair(k)
            yield (self.crop(lq, self.names[k]), self.crop(gt, self.names[k]), self.column,
                   self.names[k])


class SyntheticTestSet(_TestSet):
    """Every clean image of ``source`` (or every ``tile`` of it) degraded once by
    ``degrade_task`` (default ``task``).

    ``key`` and ``task_index`` choose each image's generator (see the module notes); ``dist``
    the parameter ranges; ``degrade`` replaces :func:`aioir.degradations.apply` (tests).
    """

    def __init__(self, source: ImageSource, task: str, *, seed: int = 0, key: str = "name",
                 task_index: int = 0, column: str | None = None, degrade_task: str | None = None,
                 dist: str = "in", group: str = "main", max_size: int | None = None,
                 multiple: int = 1, max_images: int | None = None, quantize: bool = True,
                 tile: int | None = None, degrade: DegradeFn | None = None) -> None:
        if key not in ("name", "index"):
            raise ValueError(f"key must be 'name' or 'index', got {key!r}")
        if len(source) == 0:
            raise ValueError("a test set needs at least one image")
        self.source = source
        self.tile = None if tile is None else int(tile)
        self.multiple = max(int(multiple), 1)
        self.max_size = max_size
        if self.tile is not None and (self.tile < self.multiple or self.tile % self.multiple):
            raise ValueError(f"tile must be a positive multiple of {self.multiple} (the "
                             f"setting's crop multiple), got {tile}")
        # (clean image index, tile index or -1, top, left, name) of every test image
        self.units: list[tuple[int, int, int, int, str]] = []
        for j, name in enumerate(source.names):
            if self.tile is None:
                self.units.append((j, -1, 0, 0, name))
                continue
            h, w = self._cropped_shape(j, name)
            rows, cols = h // self.tile, w // self.tile
            if rows == 0 or cols == 0:
                raise ValueError(f"test image {name} ({h} x {w} after cropping) is smaller "
                                 f"than one {self.tile} x {self.tile} tile")
            top0, left0 = (h - rows * self.tile) // 2, (w - cols * self.tile) // 2
            for r in range(rows):
                for c in range(cols):
                    self.units.append((j, r * cols + c, top0 + r * self.tile,
                                       left0 + c * self.tile, f"{name}@r{r}c{c}"))
        super().__init__(len(self.units), column=column or task, task=task, group=group,
                         max_size=max_size, multiple=multiple, max_images=max_images)
        self.names = [u[4] for u in self.units]
        self.seed = int(seed)
        self.key = key
        self.task_index = int(task_index)
        self.degrade_task = degrade_task or task
        self.dist = dist
        self.quantize = quantize
        self._degrade = degrade

    def _cropped_shape(self, j: int, name: str) -> tuple[int, int]:
        h, w = self.crop(self.source[j], name).shape[:2]
        return h, w

    def rng(self, u: int) -> np.random.Generator:
        """The generator of test image ``u`` (a clean image, or one tile of it)."""
        j, k, _, _, name = self.units[u]
        if self.key == "index":
            return np.random.default_rng([self.seed, self.task_index, j] + ([k] if k >= 0 else []))

        return name_rng(self.seed, name)

    def item(self, u: int) -> Sample:
        """``(lq, gt, column, name)`` of test image ``u``."""
        degrade = self._degrade if self._degrade is not None else apply_degradation
        j, k, top, left, name = self.units[u]
        gt = self.crop(self.source[j], self.source.names[j])
        if k >= 0:  # one tile of the image
            tile = self.tile
            assert tile is not None
            gt = gt[top:top + tile, left:left + tile]
        gt = np.ascontiguousarray(gt, dtype=np.float32)
        lq = run_degrade(degrade, self.degrade_task, gt, self.rng(u), self.dist, self.quantize)
        return lq, gt, self.column, name

    def __iter__(self) -> Iterator[Sample]:
        for u in self.indices:
            yield self.item(u)
