"""Image IO, clean-image sources and every dataset class: samples ``(lq, gt, task_id)``.

Modules (imported on first use, so ``import aioir.data`` stays cheap):

* :mod:`aioir.data.io` — ``read_image``/``write_image`` for every Pillow mode, ``ImageReadError``,
  ``list_images``, ``to_tensor``/``to_numpy``;
* :mod:`aioir.data.sources` — ``EmbeddedPhotos`` (scikit-image photographs, fixed split),
  ``FolderSource``; :mod:`aioir.data.depth` — depth maps matched by name (haze);
* :mod:`aioir.data.synthetic` — ``SyntheticTask`` (clean images degraded on the fly as MiOIR
  did: the full image's context), ``synthetic_mix``;
* :mod:`aioir.data.paired` — ``PairedDataset``, ``PairedFolderDataset`` with matching rules and
  a ``PairingReport``;
* :mod:`aioir.data.mixing` — ``TaskMix``, the one mixer (balanced, random or list repetition;
  per-stage task subsets);
* :mod:`aioir.data.testsets` — ``PairedTestSet``, ``SyntheticTestSet``;
* :mod:`aioir.data.cache` — the training stream materialised once and shared;
* :mod:`aioir.data.sampling`, :mod:`aioir.data.transforms` — the deterministic randomness and
  patch operations they share.

>>> import aioir.data as data
>>> data.EmbeddedPhotos("test").names
['chelsea', 'coffee', 'rocket']
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ImageReadError": "io",
    "IMAGE_EXTENSIONS": "io",
    "read_image": "io",
    "write_image": "io",
    "image_size": "io",
    "list_images": "io",
    "to_tensor": "io",
    "to_numpy": "io",
    "EmbeddedPhotos": "sources",
    "FolderSource": "sources",
    "SyntheticTask": "synthetic",
    "synthetic_mix": "synthetic",
    "PairedDataset": "paired",
    "PairedFolderDataset": "paired",
    "PairingReport": "paired",
    "PairingError": "paired",
    "pair_folders": "paired",
    "TaskMix": "mixing",
    "Segment": "mixing",
    "PairedTestSet": "testsets",
    "SyntheticTestSet": "testsets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"aioir.data.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'aioir.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
