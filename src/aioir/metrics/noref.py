"""No-reference scores of photographs without ground truth: NIQE and BRISQUE of each photo as
given and as restored (``aioir eval CHECKPOINT --photos DIR``; the report's "Photographs without
ground truth" table).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> photos = [("a.png", rng.random((192, 200, 3)))]
>>> out = score_photos(lambda img: img, photos, progress=False)
>>> out["metrics"], out["records"][0]["name"], out["mean"]["input"] == out["mean"]["output"]
(['niqe', 'brisque'], 'a.png', True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from aioir.markdown import markdown_table
from aioir.progress import progress as progress_bar

from .brisque import brisque
from .niqe import niqe

__all__ = ["NO_REFERENCE", "score_photos", "photos_table"]

#: the no-reference metrics, by name (lower is better for both)
NO_REFERENCE: dict[str, Callable[[Any], float]] = {"niqe": niqe, "brisque": brisque}


def _scores(img: np.ndarray, notes: list[str], name: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for metric, fn in NO_REFERENCE.items():
        try:
            out[metric] = fn(img)
        except ValueError as exc:  # too small for the metric: say so, go on
            out[metric] = None
            notes.append(f"{name}: no {metric.upper()} ({exc})")
    return out


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(kept)) if kept else None


def score_photos(restore_fn: Callable[[np.ndarray], np.ndarray],
                 photos: Iterable[tuple[str, np.ndarray]], *, progress: bool = True,
                 total: int | None = None) -> dict[str, Any]:
    """NIQE and BRISQUE of every ``(name, image)`` (float RGB in [0, 1]) and of
    ``restore_fn(image)`` (clipped to [0, 1]): ``{"metrics", "records": [{"name", "input":
    {...}, "output": {...}}], "mean": {"input": {...}, "output": {...}}, "notes"}``."""
    records: list[dict[str, Any]] = []
    notes: list[str] = []
    for name, img in progress_bar(photos, total=total, desc="photos", unit="img",
                                  disable=not progress):
        restored = np.clip(np.asarray(restore_fn(img)), 0.0, 1.0)
        records.append({"name": name, "input": _scores(img, notes, name),
                        "output": _scores(restored, notes, f"{name} (restored)")})
    mean = {which: {m: _mean([r[which][m] for r in records]) for m in NO_REFERENCE}
            for which in ("input", "output")}
    return {"metrics": list(NO_REFERENCE), "records": records, "mean": mean, "notes": notes}


def photos_table(result: dict[str, Any], label: str = "restored") -> str:
    """Markdown table of :func:`score_photos`: the photos as given and restored, the mean of
    each metric.

    >>> print(photos_table({"metrics": ["niqe"], "records": [{}],
    ...                     "mean": {"input": {"niqe": 5.0}, "output": {"niqe": 4.25}}}))
    | photos (1) |  NIQE |
    |:-----------|------:|
    | as given   | 5.000 |
    | restored   | 4.250 |
    """
    metrics = result["metrics"]

    def cells(which: str) -> list[str]:
        values = [result["mean"][which].get(m) for m in metrics]
        return ["-" if v is None else f"{v:.3f}" for v in values]

    return markdown_table([f"photos ({len(result['records'])})", *(m.upper() for m in metrics)],
                          [["as given", *cells("input")], [label, *cells("output")]])
