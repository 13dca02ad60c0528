"""Clean-image sources: an indexable list of float32 RGB ``H x W x 3`` images in ``[0, 1]``.

* :class:`EmbeddedPhotos` — real photographs shipped inside scikit-image (no download), with a
  fixed train/test split, so the demo and the tests run anywhere;
* :class:`FolderSource` — every image under a folder (DIV2K, BSD400, WED, ...).

Both decode lazily and keep decoded images in memory (``cache=True``); returned arrays are
read-only views of the cache, so a caller that wants to modify one copies it first.

>>> src = EmbeddedPhotos("test")
>>> src.names
['chelsea', 'coffee', 'rocket']
>>> img = src[0]
>>> img.shape, img.dtype
((300, 451, 3), dtype('float32'))
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from aioir.data.io import IMAGE_EXTENSIONS, list_images, read_image


class ImageSource(Protocol):
    """What the datasets need from a source of clean images."""

    names: list[str]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        out = getattr(data, name)()
        return out[0] if isinstance(out, tuple) else out  # stereo_motorcycle -> left view

    return load


#: photographs shipped with scikit-image 0.26 that load without network access (name -> loader).
#: Excluded: ``cat`` (the same photo as ``chelsea``), ``clock`` (already motion-blurred),
#: drawings/synthetic images, and the files scikit-image fetches with ``pooch``.
EMBEDDED_PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "brick": _skimage("brick"),
    "camera": _skimage("camera"),
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "coins": _skimage("coins"),
    "grass": _skimage("grass"),
    "gravel": _skimage("gravel"),
    "hubble_deep_field": _skimage("hubble_deep_field"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "moon": _skimage("moon"),
    "motorcycle_left": _skimage("stereo_motorcycle"),
    "retina": _skimage("retina"),
    "rocket": _skimage("rocket"),
}

#: the fixed evaluation split (three natural colour photographs); every other photo is training
EMBEDDED_TEST: tuple[str, ...] = ("chelsea", "coffee", "rocket")
EMBEDDED_TRAIN: tuple[str, ...] = tuple(n for n in EMBEDDED_PHOTOS if n not in EMBEDDED_TEST)
#: the photographs of each split, sorted (the order of :class:`EmbeddedPhotos`)
EMBEDDED_SPLITS: dict[str, tuple[str, ...]] = {
    "train": tuple(sorted(EMBEDDED_TRAIN)),
    "test": tuple(sorted(EMBEDDED_TEST)),
    "all": tuple(sorted(EMBEDDED_PHOTOS)),
}


def _to_float_rgb(a: np.ndarray) -> np.ndarray:
    if a.dtype != np.uint8:
        raise TypeError(f"expected an 8-bit photograph, got {a.dtype}")
    f = a.astype(np.float32) / 255.0
    if f.ndim == 2:
        f = np.repeat(f[:, :, None], 3, axis=2)
    return np.ascontiguousarray(f[..., :3])


class _CachedSource:
    """Shared lazy cache: subclasses set ``names`` and implement ``_load(index)``."""

    names: list[str]

    def __init__(self, cache: bool = True) -> None:
        self.cache = cache
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.names)

    def _load(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, index: int) -> np.ndarray:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"image index {index} out of range for {n} images")
        index %= n
        if index in self._cache:
            return self._cache[index]
        img = self._load(index)
        img.flags.writeable = False
        if self.cache:
            self._cache[index] = img
        return img

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} images)"


class EmbeddedPhotos(_CachedSource):
    """The scikit-image photographs of :data:`EMBEDDED_PHOTOS`, ``split`` train/test/all.

    Greyscale photos (camera, moon, coins, brick, grass, gravel) are repeated to RGB.
    """

    def __init__(
        self, split: Literal["train", "test", "all"] = "train", cache: bool = True
    ) -> None:
        super().__init__(cache)
        if split not in EMBEDDED_SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(EMBEDDED_SPLITS)}")
        self.split = split
        self.names = list(EMBEDDED_SPLITS[split])

    def _load(self, index: int) -> np.ndarray:
        return _to_float_rgb(EMBEDDED_PHOTOS[self.names[index]]())


class FolderSource(_CachedSource):
    """Every image under ``root`` (sorted by relative path; see :func:`aioir.data.io.list_images`).

    ``names`` are the paths relative to ``root``. A missing folder raises ``FileNotFoundError``,
    a folder without images ``ValueError``; unreadable files raise
    :class:`aioir.data.io.ImageReadError` when first accessed. Use ``cache=False`` for folders
    too large to hold in memory (e.g. DF2K: about 120 GB as float32).
    """

    def __init__(
        self, root: str | os.PathLike[str], recursive: bool = True, cache: bool = True
    ) -> None:
        super().__init__(cache)
        self.root = Path(root)
        self.paths = list_images(self.root, recursive=recursive)
        if not self.paths:
            where = "under" if recursive else "directly in"
            raise ValueError(
                f"no images found {where} {self.root} (extensions: {', '.join(IMAGE_EXTENSIONS)})"
            )
        self.names = [p.relative_to(self.root).as_posix() for p in self.paths]

    def _load(self, index: int) -> np.ndarray:
        return read_image(self.paths[index])
