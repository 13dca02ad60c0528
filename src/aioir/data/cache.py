"""Materialise a deterministic dataset once and share it between runs.

Sample ``i`` of a synthetic dataset is a pure function of ``(seed, i)``, so runs that differ only
in their strategy (the demo trains mixed, TUR and Art on the same seed) would synthesise exactly
the same stream each. :func:`materialize` computes samples ``0..n-1`` once, in parallel worker
processes, into uint8 memory-mapped arrays; :class:`CachedDataset` serves them back.

Storing uint8 is lossless when every image is on the 8-bit grid: 8-bit sources (photographs,
PNG/JPEG files) and ``quantize=True`` degraded inputs. :func:`materialize` checks this for every
sample and refuses otherwise, so a cache never silently changes the data.

>>> import tempfile, torch
>>> class Toy(torch.utils.data.Dataset):
...     def __len__(self): return 10
...     def __getitem__(self, i):
...         x = torch.full((3, 4, 4), (i % 256) / 255.0)
...         return {"lq": x, "gt": x.flip(0), "task_id": i % 3}
>>> d = tempfile.mkdtemp()
>>> cached = materialize(Toy(), 10, d, workers=1, key="toy")
>>> all(torch.equal(cached[i]["lq"], Toy()[i]["lq"]) for i in range(10))
True
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aioir.progress import progress as progress_bar
from aioir.workers import die_with_parent

_FIELDS = ("lq", "gt")
#: image fields a sample may carry besides ``lq`` and ``gt`` (all samples of a stream alike)
_OPTIONAL = ("lq_views", "lq_cls", "gt_cls")


def _image_fields(present: Any) -> tuple[str, ...]:
    """``lq``, ``gt`` and the optional image fields found in ``present`` (a sample or the
    cache's arrays)."""
    return (*_FIELDS, *(f for f in _OPTIONAL if f in present))


def _to_u8(x: torch.Tensor, what: str) -> np.ndarray:
    a = x.numpy() * 255.0
    r = np.round(a)
    if np.abs(a - r).max() > 1e-3:
        raise ValueError(
            f"cannot cache {what}: values are not on the 8-bit grid (enable quantize and use "
            "8-bit sources, or train without the cache)"
        )
    return r.astype(np.uint8)


#: the dataset a cache worker fills from, set once per worker by :func:`_start_worker` (a
#: dataset sent with every chunk would be unpickled, and its lazily built maps - haze depths,
#: photo variants - rebuilt, once per chunk)
_WORKER_DATASET: Any = None


def _start_worker(parent_pid: int, dataset: Any) -> None:
    global _WORKER_DATASET
    die_with_parent(parent_pid)
    _WORKER_DATASET = dataset


def _fill(args: tuple[Any, str, int, int, dict[str, tuple]]) -> None:
    dataset, folder, start, stop, shapes = args
    dataset = _WORKER_DATASET if dataset is None else dataset
    torch.set_num_threads(1)
    arrays = {
        f: np.lib.format.open_memmap(Path(folder) / f"{f}.npy", mode="r+") for f in shapes
    }
    for i in range(start, stop):
        s = dataset[i]
        for f in _image_fields(arrays):
            arrays[f][i] = _to_u8(s[f], f"{f} of sample {i}")
        arrays["task_id"][i] = int(s["task_id"])
    for a in arrays.values():
        a.flush()


def materialize(
    dataset: torch.utils.data.Dataset,
    n: int,
    folder: str | os.PathLike[str],
    *,
    workers: int = 2,
    key: str = "",
    progress: bool = False,
) -> CachedDataset:
    """Samples ``0..n-1`` of ``dataset`` in ``folder`` (reused when ``key`` and ``n`` match).

    ``key`` must identify the dataset's content (source, tasks, patch size, seed, ...): a
    folder holding another key is rebuilt.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = {"key": key, "n": int(n)}
    done = folder / "complete.json"
    if done.is_file() and json.loads(done.read_text()) == stamp:
        return CachedDataset(folder)
    done.unlink(missing_ok=True)
    first = dataset[0]
    shapes = {f: (n, *first[f].shape) for f in _image_fields(first)}
    for f, shape in shapes.items():
        np.lib.format.open_memmap(folder / f"{f}.npy", mode="w+", dtype=np.uint8, shape=shape)
    np.lib.format.open_memmap(folder / "task_id.npy", mode="w+", dtype=np.int64, shape=(n,))
    shapes["task_id"] = (n,)
    chunk = max(1, -(-n // max(workers * 8, 1)))
    ranges = [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
    if workers <= 1:
        for a, b in ranges:
            _fill((dataset, str(folder), a, b, shapes))
    else:
        jobs = [(None, str(folder), a, b, shapes) for a, b in ranges]
        with mp.get_context("spawn").Pool(workers, initializer=_start_worker,
                                          initargs=(os.getpid(), dataset)) as pool:
            it = pool.imap_unordered(_fill, jobs)
            if progress:
                it = progress_bar(it, total=len(jobs), desc="synthesising data", unit="chunk")
            for _ in it:
                pass
    done.write_text(json.dumps(stamp))
    return CachedDataset(folder)


class CachedDataset(torch.utils.data.Dataset):
    """Serves a folder written by :func:`materialize`; index ``i`` wraps modulo its length."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._arrays: dict[str, np.ndarray] | None = None
        self.length = int(json.loads((self.folder / "complete.json").read_text())["n"])

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:  # opened lazily: picklable for DataLoader workers
            self._arrays = {
                p.stem: np.load(p, mmap_mode="r") for p in self.folder.glob("*.npy")
            }
        return self._arrays

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        a = self._open()
        i = index % self.length
        out: dict[str, Any] = {
            f: torch.from_numpy(a[f][i].astype(np.float32) / 255.0) for f in _image_fields(a)
        }
        out["task_id"] = int(a["task_id"][i])
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": None}


def cache_key(*parts: Any) -> str:
    """A stable digest of the JSON-serialisable ``parts`` describing a dataset."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
