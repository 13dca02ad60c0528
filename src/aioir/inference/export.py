"""Export the plain backbone of a training checkpoint (read back by :mod:`aioir.inference.reader`).

Formats (:data:`FORMATS`; the file's extension must match):

* ``safetensors`` (``.safetensors``): the backbone's ``state_dict()`` (the EMA weights by
  default, as evaluated) with the model name, its constructor options and the task names in the
  file's metadata; rebuilt by :func:`aioir.inference.reader.load_network` with aioir installed.
* ``torchscript`` (``.ts``) and ``onnx`` (``.onnx``): the network as a graph, runnable without
  aioir (:mod:`aioir.inference.graph_export`): traced with dynamic batch, height and width; ONNX
  with opset :data:`~aioir.inference.graph_export.ONNX_OPSET`.

No strategy part (TUR's uncertainty head, Art's state) is in any of them. ``check=True`` runs the
exported file on a test photograph and two odd-sized inputs and compares it with PyTorch
(:func:`~aioir.inference.graph_export.check_export`); a file that fails is not kept. The export
is serialised in memory, then written to a process-tagged temporary file beside the target
(:func:`aioir.files.atomic_write`) and renamed into place: a full disk is one line naming the
target, and the temporary a killed export left is removed by the next export into that
folder. An existing file is replaced only with ``overwrite=True``.

>>> import tempfile, pathlib, torch
>>> from aioir import models
>>> net = models.build("tiny_unet", width=8)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "net.safetensors"
>>> _ = save_exported(net, path, model_name="tiny_unet", options={"width": 8}, tasks=["noise"])
>>> from aioir.inference.reader import load_network
>>> back, meta = load_network(path)
>>> meta["model"], meta["tasks"]
('tiny_unet', ['noise'])
>>> all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), back.state_dict().values()))
True
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.nn as nn

from aioir import __version__
from aioir.files import atomic_write, remove_stale_temporaries, write_bytes, write_error
from aioir.inference import graph_export
from aioir.inference.reader import load_network
from aioir.models.release import describe_choice

#: export format -> file extension
FORMATS: dict[str, str] = {"safetensors": ".safetensors", "torchscript": ".ts", "onnx": ".onnx"}


def _metadata(model_name: str, options: dict[str, Any], tasks: list[str],
              extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **(extra or {}),
        "format": "aioir-backbone",
        "model": model_name,
        "options": json.dumps(options),
        "tasks": json.dumps(tasks),
        "aioir_version": __version__,
    }


def check_output_path(path: str | os.PathLike[str], fmt: str, *, overwrite: bool = False) -> Path:
    """``path`` as an export target for ``fmt``: the right extension, and not an existing file
    unless ``overwrite`` (then not a folder either).

    >>> check_output_path("model.png", "onnx")
    Traceback (most recent call last):
    ...
    ValueError: --out model.png: an onnx export is written to a .onnx file
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if path.suffix.lower() != FORMATS[fmt]:
        raise ValueError(f"--out {path}: an {fmt} export is written to a {FORMATS[fmt]} file")
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise ValueError(f"{path} already exists; pass --overwrite to replace it")
    return path


def save_exported(
    model: nn.Module,
    path: str | Path,
    *,
    model_name: str,
    options: dict[str, Any],
    tasks: list[str],
    extra: dict[str, str] | None = None,
) -> Path:
    """Write ``model``'s state dict and its build recipe to a safetensors file (``extra``:
    more metadata strings, e.g. where imported weights came from)."""
    return write_bytes(Path(path),
                       safetensors_bytes(model, _metadata(model_name, options, tasks, extra)),
                       what="exported model")


def safetensors_bytes(model: nn.Module, metadata: dict[str, str]) -> bytes:
    """``model``'s state dict and ``metadata`` serialised as safetensors."""
    from safetensors.torch import save

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return save(state, metadata=metadata)


@dataclass
class ExportReport:
    """What :func:`export_checkpoint` wrote and, with ``check``, how close it is to PyTorch."""

    path: Path
    fmt: str
    model: str
    weights: str
    check: Any = None  # graph_export.CheckReport
    #: how released weights were read (:func:`aioir.models.release.describe_choice`), or None
    chosen: str | None = None


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    *,
    fmt: str = "safetensors",
    use_ema: bool = True,
    check: bool = False,
    opset: int | None = None,
    overwrite: bool = False,
    model: str | None = None,
    options: dict[str, Any] | None = None,
    tasks: list[str] | None = None,
) -> ExportReport:
    """Export the backbone of a training checkpoint (EMA weights when present and ``use_ema``)
    or of released weights (``model``, ``options``, ``tasks``: :func:`load_network`) to ``out``
    in ``fmt``; see the module notes."""

    out = check_output_path(out, fmt, overwrite=overwrite)
    net, meta = load_network(checkpoint, use_ema=use_ema, model=model, options=options,
                             tasks=tasks)
    meta_strings = _metadata(meta["model"], meta["options"], meta["tasks"])
    if fmt == "safetensors":
        data = safetensors_bytes(net, meta_strings)
    else:
        try:  # in memory: torch.jit.save on a full disk aborts in C++
            data = (graph_export.torchscript_bytes(net, meta_strings) if fmt == "torchscript"
                    else graph_export.onnx_bytes(net, meta_strings,
                                                 opset=opset or graph_export.ONNX_OPSET))
        except (RuntimeError, TypeError, NotImplementedError) as exc:  # tracer / exporter
            raise ValueError(f"cannot express {meta['model']} in {fmt}: "
                             f"{graph_export.cause(exc)}") from exc
    try:  # what an earlier export killed mid-write left beside the target
        remove_stale_temporaries(out.parent)
    except OSError as exc:
        raise write_error(exc, out, "exported model") from exc
    # a process-tagged temporary beside ``out`` (removed on any error), checked, then renamed
    with atomic_write(out, what="exported model", keep_suffix=True) as fh:
        fh.write(data)
        fh.flush()
        report = graph_export.check_export(net, fh.path, fmt) if check else None
    return ExportReport(out, fmt, meta["model"], meta["weights"], report, describe_choice(meta))
