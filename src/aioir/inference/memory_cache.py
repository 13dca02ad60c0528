"""The activation-memory measurement kept on disk, so ``aioir restore`` starts in seconds.

:func:`~aioir.inference.memory.calibrate` runs three forwards (128, 256 and 384 px) through the
network to learn its memory per pixel: 27 s for NAFNet at its published size on one CPU thread,
against 3.5 s to restore a 128 x 160 image. The result depends only on what the network computes
and where, so it is stored per key: the network's class and its tensors' names, shapes and dtypes,
its build options, the device (the GPU's name on CUDA), the input dtype, the torch version and
the calibration sizes, hashed (:func:`cost_key`). One JSON file per key in :func:`cache_dir`
(``AIOIR_CACHE_DIR``, else ``$XDG_CACHE_HOME/aioir``, else ``~/.cache/aioir``), under
``memory/``, written atomically (:mod:`aioir.files`). A damaged or foreign entry is ignored and
measured again (then rewritten); a folder that cannot be written only costs the measurement
next time. ``AIOIR_CACHE_DIR=off`` turns the cache off.

>>> import tempfile, os
>>> os.environ["AIOIR_CACHE_DIR"] = tempfile.mkdtemp()
>>> from aioir.inference.memory import ActivationCost
>>> key = cost_key({"model": "x"})
>>> load_cost(key) is None
True
>>> store_cost(key, ActivationCost(1.0, 2.0, 0.0), {"model": "x"})
>>> load_cost(key)
ActivationCost(constant=1.0, per_pixel=2.0, quadratic=0.0, points=3)
>>> del os.environ["AIOIR_CACHE_DIR"]
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from aioir.files import write_text
from aioir.inference.memory import CALIBRATION_SIZES, ActivationCost

LOG = logging.getLogger("aioir")

#: version of the entries' format (and of what is measured); bump to invalidate old entries
FORMAT = 1


def cache_dir() -> Path | None:
    """The user's aioir cache folder (None when ``AIOIR_CACHE_DIR=off``)."""
    override = os.environ.get("AIOIR_CACHE_DIR")
    if override:
        return None if override.strip().lower() in ("off", "0", "none") else Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "aioir"


def device_label(device: torch.device) -> str:
    """``cpu``, or ``cuda:<GPU name>`` (the memory a forward takes depends on the GPU's
    kernels, not on its index)."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def cost_key(parts: Mapping[str, Any]) -> str:
    """Hex digest of ``parts`` with the torch version, the calibration sizes and the format.

    >>> cost_key({"a": 1}) == cost_key({"a": 1}), cost_key({"a": 1}) == cost_key({"a": 2})
    (True, False)
    """
    full = {"parts": parts, "torch": torch.__version__, "sizes": list(CALIBRATION_SIZES),
            "format": FORMAT}
    text = json.dumps(full, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _entry(key: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / "memory" / f"{key}.json"


def load_cost(key: str) -> ActivationCost | None:
    """The stored measurement for ``key``, or None (absent, unreadable, damaged, foreign)."""
    path = _entry(key)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("key") != key:
            return None
        c = data["cost"]
        values = [float(c["constant"]), float(c["per_pixel"]), float(c["quadratic"])]
        points = int(c["points"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        LOG.debug("memory cache entry %s ignored: %s", path, exc)
        return None
    if not all(math.isfinite(v) for v in values) or values[1] < 0 or points != 3:
        return None
    return ActivationCost(values[0], values[1], values[2], points=points)


def store_cost(key: str, cost: ActivationCost, describe: Mapping[str, Any]) -> None:
    """Keep ``cost`` under ``key`` (``describe``: what was measured, for a reader of the file).
    A failure to write is logged, never raised: the cache is an optimisation."""
    path = _entry(key)
    if path is None:
        return

    data = {"format": FORMAT, "key": key, "torch": torch.__version__,
            "cost": {"constant": cost.constant, "per_pixel": cost.per_pixel,
                     "quadratic": cost.quadratic, "points": cost.points},
            "network": describe}
    try:
        write_text(path, json.dumps(data, indent=1, default=str) + "\n",
                   what="memory measurement cache")
    except OSError as exc:  # read-only home, full disk: measure again next time
        LOG.debug("memory cache not written (%s): %s", path, exc)
