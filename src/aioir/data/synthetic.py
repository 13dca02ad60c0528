"""Degrade clean images on the fly, as MiOIR synthesised its training data.

:class:`SyntheticTask` is one component of a training mix (:class:`aioir.data.mixing.TaskMix`):
the clean images of a source degraded for one task. ``sample(item, rng)`` draws, in order, from
the sample's generator (``default_rng([seed, i])``, see :mod:`aioir.data.sampling`):

1. a window of ``patch_size`` in clean image ``item`` (images smaller than the window are
   reflect-padded at the bottom/right first; ``patch_size=None`` keeps the full image; with
   ``views >= 2`` the window is twice the patch size);
2. one of the 8 flips/rotations when ``augment``;
3. the degradation's parameters (:func:`aioir.degradations.draw_params`), then the
   degradation of the window's **context region**, then its own randomness (noise values, rain
   seeds) — see below;
4. with ``views >= 2``, ``views`` patch-size crops of the degraded window (AirNet's contrastive
   encoder sees two crops of one degraded image); view 0 is the training ``lq``.

The window is then cut from the degraded region, flipped/rotated (the same symmetry for LQ and
GT: MiOIR's loader augments patches of pre-degraded images, so rain streaks rotate with the
patch), and the LQ rounded to 8 bits when ``quantize`` (MiOIR stores 8-bit files).

**The context region.** MiOIR degrades every *full* image, then cuts patches. Degrading only the
patch changes the distribution wherever a pixel's result depends on more than its neighbours:
the rain layer is min-max normalised over the whole image (a patch's own maximum is lower, so
its streaks come out brighter), haze divides the depth by the image's maximum depth, and SR and
JPEG work on a 4/16-pixel grid anchored at the image's corner. Each catalogue task declares its
context (:attr:`aioir.degradations.TaskSpec.context`): ``None`` (the whole image: rain), or a
margin and a grid (blur: the kernel radius; SR: 4 x scale and the scale; JPEG: 16 and 16;
pixel-wise tasks: 0 and 1). The region degraded is the window grown by the margin, snapped
outward to the grid from the image's corner and clipped to the image, so the window receives
exactly what the full-image degradation gives it (for SR, exactly when the image side is a
multiple of the scale). Haze gets the full image's depth map (a real map from ``depth``, or the
pseudo-depth of the full image, computed once per image) divided by its maximum over the whole
image, cut like the window.

A custom ``degrade`` function (tests, experiments) has no catalogue entry and is applied to the
window alone.

**The classifier's stream** (``classifier_copies > 0``): each sample also carries ``lq_cls`` and
``gt_cls``, a sample of the same task (same patch size, window, symmetry and degradation drawn
as above) from one of the photograph's :class:`~aioir.data.variants.PhotoVariants` (the
photograph itself or one of ``classifier_copies`` scale/colour/tone/noise variants, chosen
uniformly), for a degradation classifier to fit on (``aware_unet``'s ``stats`` classifier reads
them). Haze there uses each variant's pseudo-depth (a ``depth`` map does not fit a resized
variant). Its draws come from a generator spawned from the sample's (``rng.spawn(1)``), which
does not advance it: ``lq``, ``gt`` and ``task_id`` are those the sample has without it.

>>> from aioir.data.sources import EmbeddedPhotos
>>> def darken(task, img, rng, dist="in"):
...     return img * 0.5, {}
>>> comp = SyntheticTask(EmbeddedPhotos("test"), "dark", patch_size=16, degrade=darken)
>>> s = comp.sample(0, np.random.default_rng(0))
>>> tuple(s["lq"].shape), tuple(s["gt"].shape), s["task_id"]
((3, 16, 16), (3, 16, 16), 0)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from aioir.data.io import to_tensor
from aioir.data.mixing import TaskMix
from aioir.data.sources import ImageSource
from aioir.data.transforms import PatchSize, as_hw, dihedral, pad_to_min, quantize8
from aioir.data.variants import PhotoVariants
from aioir.degradations import draw_params, get_task
from aioir.degradations.api import apply_window
from aioir.degradations.depth import pseudo_depth
from aioir.degradations.haze import check_depth

#: ``degrade(task, img, rng, *, dist) -> (degraded img, params)``
DegradeFn = Callable[..., tuple[np.ndarray, dict]]
#: ``depth(item, clean image) -> (H, W) depth map of that image`` (any positive scale)
DepthFn = Callable[[int, np.ndarray], np.ndarray]


def run_degrade(
    degrade: DegradeFn,
    task: str,
    img: np.ndarray,
    rng: np.random.Generator,
    dist: str,
    quantize: bool,
    **params: Any,
) -> np.ndarray:
    """Degrade ``img`` for ``task``, check the result and optionally round it to 8 bits."""
    out = degrade(task, np.array(img, dtype=np.float32), rng, dist=dist, **params)
    lq = out[0] if isinstance(out, tuple) else out
    lq = np.asarray(lq, dtype=np.float32)
    if lq.shape != img.shape:
        raise ValueError(f"degradation {task!r} changed the image shape {img.shape} -> {lq.shape}")
    lq = np.clip(lq, 0.0, 1.0)
    return quantize8(lq) if quantize else lq


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
    """Sample dict with ``views`` random ``size`` crops of ``lq`` (view 0 is ``lq``, with
    ``gt``)."""
    if size is None:
        raise ValueError(f"{views} views need a patch size (data.patch_size)")
    h, w = as_hw(size)
    rh, rw = lq.shape[:2]
    corners = [(int(rng.integers(0, rh - h + 1)), int(rng.integers(0, rw - w + 1)))
               for _ in range(views)]
    crops = [lq[y : y + h, x : x + w] for y, x in corners]
    y0, x0 = corners[0]
    return {
        "lq": to_tensor(crops[0]),
        "gt": to_tensor(gt[y0 : y0 + h, x0 : x0 + w]),
        "lq_views": torch.stack([to_tensor(c) for c in crops]),
    }


def context_region(
    window: tuple[int, int, int, int], shape: tuple[int, int], context: tuple[int, int] | None
) -> tuple[int, int, int, int]:
    """The region ``(y0, x0, y1, x1)`` to degrade so that ``window`` (same form) gets the
    full-image result: the whole image for ``context=None``, else the window grown by
    ``margin`` on every side, snapped outward to multiples of ``grid`` and clipped.

    >>> context_region((10, 20, 26, 36), (100, 100), (16, 16))
    (0, 0, 48, 64)
    >>> context_region((10, 20, 26, 36), (100, 100), (0, 1))
    (10, 20, 26, 36)
    >>> context_region((10, 20, 26, 36), (100, 100), None)
    (0, 0, 100, 100)
    """
    h, w = shape
    if context is None:
        return 0, 0, h, w
    margin, grid = int(context[0]), max(int(context[1]), 1)
    y0, x0, y1, x1 = window
    y0, x0 = max(0, y0 - margin) // grid * grid, max(0, x0 - margin) // grid * grid
    y1 = min(h, -(-min(h, y1 + margin) // grid) * grid)
    x1 = min(w, -(-min(w, x1 + margin) // grid) * grid)
    return y0, x0, y1, x1


class SyntheticTask:
    """Clean images of ``source`` degraded on the fly for ``task`` (one mix component).

    ``len()`` is the number of clean images; ``sample(item, rng)`` returns
    ``{"lq", "gt", "task_id": 0}`` (float32 CHW in ``[0, 1]``; the mixer sets the task id),
    plus ``"lq_views"`` ``(V, C, h, w)`` with ``views >= 2`` and ``"lq_cls"``, ``"gt_cls"``
    with ``classifier_copies > 0`` (the classifier's stream, module notes). See the module
    notes for the order of the random draws and the context region. ``depth`` gives haze the depth map of a
    clean image (default: its pseudo-depth); maps are cached per image like the source's
    images (at most ``depth_cache`` maps when the source does not cache).
    """

    def __init__(
        self,
        source: ImageSource,
        task: str,
        patch_size: PatchSize,
        *,
        dist: str = "in",
        augment: bool = True,
        quantize: bool = True,
        views: int = 1,
        degrade: DegradeFn | None = None,
        depth: DepthFn | None = None,
        depth_cache: int = 64,
        classifier_copies: int = 0,
    ) -> None:
        if len(source) == 0:
            raise ValueError("the image source is empty")
        if classifier_copies < 0:
            raise ValueError(f"classifier_copies must be >= 0, got {classifier_copies}")
        self.source = source
        self.task = str(task)
        self.patch_size = patch_size
        self.dist = dist
        self.augment = augment
        self.quantize = quantize
        self.views = check_views(views, patch_size)
        self._degrade = degrade
        self._depth = depth
        self._depth_cache_size = None if getattr(source, "cache", False) else int(depth_cache)
        self._depths: OrderedDict[int, np.ndarray] = OrderedDict()
        if degrade is None:
            _ = self.spec  # an unknown task fails here, naming the closest one
        self.classifier_copies = int(classifier_copies)
        self._cls = (SyntheticTask(PhotoVariants(source, classifier_copies), task, patch_size,
                                   dist=dist, augment=augment, quantize=quantize,
                                   degrade=degrade)
                     if classifier_copies else None)

    @property
    def spec(self):  # -> aioir.degradations.TaskSpec | None (looked up: specs hold lambdas)
        """The catalogue entry of the task (None with a custom ``degrade``)."""
        if self._degrade is not None:
            return None

        return get_task(self.task)

    def __len__(self) -> int:
        return len(self.source)

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers: no cached maps in the copy
        return {**self.__dict__, "_depths": OrderedDict()}

    # ------------------------------------------------------------------ depth (haze)
    def depth_of(self, item: int, img: np.ndarray) -> np.ndarray:
        """The depth map of clean image ``item`` divided by its maximum (cached)."""
        if item in self._depths:
            self._depths.move_to_end(item)
            return self._depths[item]
        raw = (np.asarray(self._depth(item, img), dtype=np.float64) if self._depth is not None
               else pseudo_depth(img))
        d = check_depth(raw, img.shape[:2]).astype(np.float32)
        d.flags.writeable = False
        self._depths[item] = d
        if self._depth_cache_size is not None and len(self._depths) > self._depth_cache_size:
            self._depths.popitem(last=False)
        return d

    # ------------------------------------------------------------------ sampling
    def _window(self, shape: tuple[int, int], rng: np.random.Generator) -> tuple[int, int, int, int]:
        if self.patch_size is None:
            return 0, 0, shape[0], shape[1]
        ph, pw = as_hw(self.patch_size)
        if self.views >= 2:
            ph, pw = 2 * ph, 2 * pw
        y = int(rng.integers(0, shape[0] - ph + 1))
        x = int(rng.integers(0, shape[1] - pw + 1))
        return y, x, y + ph, x + pw

    def _degrade_window(self, item: int, img: np.ndarray, window: tuple[int, int, int, int],
                        rng: np.random.Generator) -> np.ndarray:
        y0, x0, y1, x1 = window
        spec = self.spec
        if spec is None:  # a custom degradation: the window alone
            gt = np.ascontiguousarray(img[y0:y1, x0:x1], dtype=np.float32)
            assert self._degrade is not None  # set whenever the task has no catalogue spec
            return run_degrade(self._degrade, self.task, gt, rng, self.dist, self.quantize)

        params = draw_params(self.task, rng, dist=self.dist)
        ry0, rx0, ry1, rx1 = context_region(window, img.shape[:2], spec.context(params))
        region = np.ascontiguousarray(img[ry0:ry1, rx0:rx1], dtype=np.float32)
        inputs: dict[str, Any] = {}
        if "depth" in spec.arrays:
            clean = self.source[item]
            full = pad_to_min(self.depth_of(item, clean)[:, :, None], *img.shape[:2])[:, :, 0]
            inputs = {"depth": full[ry0:ry1, rx0:rx1], "depth_scale": 1.0}
        # the window of the region's degradation (rain: only the window's per-pixel work)
        lq = apply_window(self.task, region, (y0 - ry0, x0 - rx0, y1 - ry0, x1 - rx0), rng,
                          dist=self.dist, **params, **inputs)
        lq = np.clip(lq, 0.0, 1.0)
        return quantize8(lq) if self.quantize else np.ascontiguousarray(lq)

    def sample(self, item: int, rng: np.random.Generator) -> dict[str, Any]:
        """Sample of clean image ``item`` with every random choice drawn from ``rng``."""
        img = self.source[int(item) % len(self.source)]
        if self.patch_size is not None:
            ph, pw = as_hw(self.patch_size)
            if self.views >= 2:
                ph, pw = 2 * ph, 2 * pw
            img = pad_to_min(img, ph, pw)
        window = self._window(img.shape[:2], rng)
        k = int(rng.integers(8)) if self.augment else 0
        lq = self._degrade_window(int(item) % len(self.source), img, window, rng)
        y0, x0, y1, x1 = window
        gt = np.asarray(img[y0:y1, x0:x1], dtype=np.float32)
        if k:
            lq, gt = dihedral(lq, k), dihedral(gt, k)
        if self.views < 2:
            out = {"lq": to_tensor(lq), "gt": to_tensor(gt), "task_id": 0}
        else:
            out = {**cut_views(lq, gt, self.patch_size, self.views, rng), "task_id": 0}
        if self._cls is not None:
            out.update(self._classifier_sample(int(item) % len(self.source), rng))
        return out

    def _classifier_sample(self, item: int, rng: np.random.Generator) -> dict[str, Any]:
        """``lq_cls``/``gt_cls``: a sample of a variant of photograph ``item`` from a
        generator spawned from ``rng`` (``rng`` itself is not advanced)."""
        assert self._cls is not None
        own = rng.spawn(1)[0]
        copy = int(own.integers(self.classifier_copies + 1))
        s = self._cls.sample(item * (self.classifier_copies + 1) + copy, own)
        return {"lq_cls": s["lq"], "gt_cls": s["gt"]}


def synthetic_mix(
    source: ImageSource,
    tasks: Sequence[str],
    patch_size: PatchSize,
    seed: int,
    length: int,
    *,
    balance: str = "balanced",
    **options: Any,
):
    """A :class:`aioir.data.mixing.TaskMix` of one :class:`SyntheticTask` per task (ids
    ``0..K-1`` in the order of ``tasks``) over one shared source; ``options`` go to every
    component (``dist``, ``augment``, ``quantize``, ``views``, ``degrade``, ``depth``).

    >>> from aioir.data.sources import EmbeddedPhotos
    >>> mix = synthetic_mix(EmbeddedPhotos("test"), ["noise", "dark"], 16, seed=0, length=4)
    >>> [mix[i]["task_id"] for i in range(4)].count(0)
    2
    """
    if len(tasks) == 0:
        raise ValueError("need at least one task")
    comps = [SyntheticTask(source, t, patch_size, **options) for t in tasks]
    return TaskMix(comps, balance, seed, length)
