"""Writing tables and results to files: CSV, JSON, and an evaluation summary bundle.

Every file is written atomically with the user's umask (:func:`aioir.files.write_text`); a
full or read-only disk raises :class:`aioir.errors.OutputError` naming the file.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aioir.files import path_component, write_text

__all__ = ["write_csv", "write_json", "write_results", "per_task_records"]


def write_csv(
    path: str | os.PathLike[str], headers: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Path:
    """Write ``rows`` under ``headers`` as CSV (floats unformatted, full precision).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = write_csv(p, ["task", "psnr"], [["rain", 30.5]])
    >>> p.read_text().splitlines()
    ['task,psnr', 'rain,30.5']
    """
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {list(row)!r} has {len(row)} cells, expected {len(headers)}")
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return write_text(path, buf.getvalue(), what="table")


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON (paths -> strings, numpy/torch scalars -> numbers).

    Non-finite floats are kept as ``Infinity``/``NaN`` (PSNR of identical images is inf), which
    Python's ``json`` reads back.

    >>> import tempfile, pathlib, json
    >>> p = write_json(pathlib.Path(tempfile.mkdtemp()) / "r.json", {"psnr": float("inf")})
    >>> json.loads(p.read_text())
    {'psnr': inf}
    """
    return write_text(path, json.dumps(_plain(data), indent=2, allow_nan=True) + "\n",
                      what="results")


def per_task_records(summary: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """CSV-ready ``(headers, rows)`` of an evaluation summary (``EvalResult.to_dict()``).

    One row per task and a final ``average`` row; columns ``task, count, psnr, ssim[, lpips]``.

    >>> per_task_records({"per_task": {"rain": {"psnr": 30.0, "ssim": 0.9, "count": 2}},
    ...                   "average": {"psnr": 30.0, "ssim": 0.9, "count": 1}})
    (['task', 'count', 'psnr', 'ssim'], [['rain', 2, 30.0, 0.9], ['average', 1, 30.0, 0.9]])
    """
    per_task = summary["per_task"]
    metrics = [m for m in ("psnr", "ssim", "lpips") if any(m in row for row in per_task.values())]
    headers = ["task", "count", *metrics]
    rows = [
        [task, row.get("count", ""), *(row.get(m, math.nan) for m in metrics)]
        for task, row in per_task.items()
    ]
    if "average" in summary:
        avg = summary["average"]
        rows.append(["average", avg.get("count", ""), *(avg.get(m, math.nan) for m in metrics)])
    return headers, rows


def write_results(data: Any, out_dir: str | os.PathLike[str], stem: str = "results") -> list[Path]:
    """Write ``<stem>.json`` and, for an evaluation summary, ``<stem>.csv`` of its per-task means.

    ``stem`` becomes one safe file-name component (:func:`aioir.files.path_component`), so a
    name from a setting or a run never leads outside ``out_dir``. Returns the paths written.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> [p.name for p in write_results({"a": 1}, d / "out", stem="x/../..")]
    ['x_.._...json']
    """
    out_dir = Path(out_dir)
    stem = path_component(stem)
    data = _plain(data)
    paths = [write_json(out_dir / f"{stem}.json", data)]
    if isinstance(data, Mapping) and isinstance(data.get("per_task"), Mapping):
        headers, rows = per_task_records(data)
        paths.append(write_csv(out_dir / f"{stem}.csv", headers, rows))
    return paths
