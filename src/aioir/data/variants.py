"""Photometric and scale variants of clean photographs: a degradation classifier's wider view.

A classifier fitted on patches of a handful of photographs learns their brightness, contrast,
colour and scale along with the degradations, and routes other photographs by what they show
(issue 27: on photographs nobody tuned the demo on, haze and JPEG went to the wrong heads).
:class:`PhotoVariants` serves each photograph of a source followed by ``copies`` variants of
it, each drawn once from ``default_rng([VARIANT_SEED, image, copy])`` in this order:

1. a scale ``s ~ U(0.5, 1)``: the photograph resized by ``s`` (anti-aliased, as
   ``skimage.transform.rescale``);
2. a per-channel gain ``~ U(0.85, 1.15)`` (a white balance), clipped to ``[0, 1]``;
3. a gamma ``~ U(0.8, 1.25)`` (an exposure/tone curve);
4. sensor noise: Gaussian with ``sigma ~ U(0, 2) / 255``;

then clipped and rounded to 8 bits, like a photograph on disk. Item ``j`` is photograph
``j // (copies + 1)``, variant ``j % (copies + 1)`` (variant 0: the photograph itself).
Variants are computed on first use and kept (the source's photographs are small and few).

>>> from aioir.data.sources import EmbeddedPhotos
>>> v = PhotoVariants(EmbeddedPhotos("test"), copies=2)
>>> len(v), v.names[:3]
(9, ['chelsea', 'chelsea~1', 'chelsea~2'])
>>> import numpy as np
>>> bool(np.array_equal(v[0], EmbeddedPhotos("test")[0]))
True
"""

from __future__ import annotations

import numpy as np
from skimage.transform import rescale

from aioir.data.sources import ImageSource

#: the seed of every variant's draws (with the photograph's index and the copy's)
VARIANT_SEED = 27
SCALE = (0.5, 1.0)
GAIN = (0.85, 1.15)
GAMMA = (0.8, 1.25)
NOISE_SIGMA = 2.0 / 255


def photo_variant(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One variant of the ``(H, W, C)`` float image ``img`` in ``[0, 1]`` (module docstring)."""
    x = rescale(img, rng.uniform(*SCALE), channel_axis=2, anti_aliasing=True)
    gain: np.ndarray = np.asarray(rng.uniform(GAIN[0], GAIN[1], size=img.shape[2]))
    x = np.clip(x * gain[None, None], 0, 1) ** rng.uniform(*GAMMA)
    x = x + rng.normal(0, rng.uniform(0, NOISE_SIGMA), x.shape)
    return (np.round(np.clip(x, 0, 1) * 255) / 255).astype(np.float32)


class PhotoVariants:
    """Each photograph of ``source`` and ``copies`` variants of it (module docstring)."""

    cache = True

    def __init__(self, source: ImageSource, copies: int) -> None:
        if copies < 1:
            raise ValueError(f"PhotoVariants: copies must be >= 1, got {copies}")
        self.source, self.copies = source, int(copies)
        self.names = [n if v == 0 else f"{n}~{v}" for n in source.names
                      for v in range(copies + 1)]
        self._made: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.source) * (self.copies + 1)

    def __getitem__(self, index: int) -> np.ndarray:
        image, copy = divmod(int(index), self.copies + 1)
        if copy == 0:
            return self.source[image]
        if index not in self._made:
            rng = np.random.default_rng([VARIANT_SEED, image, copy])
            made = photo_variant(np.asarray(self.source[image], np.float32), rng)
            made.flags.writeable = False
            self._made[index] = made
        return self._made[index]

    def __getstate__(self) -> dict:  # DataLoader / cache workers: recompute, do not copy
        return {**self.__dict__, "_made": {}}
