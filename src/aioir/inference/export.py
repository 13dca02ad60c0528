"""Export the plain backbone of a training checkpoint, and load networks for inference.

Formats (:data:`FORMATS`; the file's extension must match):

* ``safetensors`` (``.safetensors``): the backbone's ``state_dict()`` (the EMA weights by
  default, as evaluated) with the model name, its constructor options and the task names in the
  file's metadata; rebuilt by :func:`load_network` with aioir installed.
* ``torchscript`` (``.ts``) and ``onnx`` (``.onnx``): the network as a graph, runnable without
  aioir (:mod:`aioir.inference.graph_export`): traced with dynamic batch, height and width; ONNX
  with opset :data:`~aioir.inference.graph_export.ONNX_OPSET`.

No strategy part (TUR's uncertainty head, Art's state) is in any of them. ``check=True`` runs the
exported file on a test photograph and two odd-sized inputs and compares it with PyTorch
(:func:`~aioir.inference.graph_export.check_export`); a file that fails is not kept. Every write
goes to a temporary file renamed into place, and an existing file is replaced only with
``overwrite=True``.

>>> import tempfile, pathlib, torch
>>> from aioir import models
>>> net = models.build("tiny_unet", width=8)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "net.safetensors"
>>> _ = save_exported(net, path, model_name="tiny_unet", options={"width": 8}, tasks=["noise"])
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

#: export format -> file extension
FORMATS: dict[str, str] = {"safetensors": ".safetensors", "torchscript": ".ts", "onnx": ".onnx"}


def _metadata(model_name: str, options: dict[str, Any], tasks: list[str]) -> dict[str, str]:
    from aioir import __version__

    return {
        "format": "aioir-backbone",
        "model": model_name,
        "options": json.dumps(options),
        "tasks": json.dumps(tasks),
        "aioir_version": __version__,
    }


def check_output_path(path: str | Path, fmt: str, *, overwrite: bool = False) -> Path:
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


def temporary_path(path: Path) -> Path:
    """A temporary sibling of ``path`` with the same extension (exporters look at it)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


def save_exported(
    model: nn.Module,
    path: str | Path,
    *,
    model_name: str,
    options: dict[str, Any],
    tasks: list[str],
) -> Path:
    """Write ``model``'s state dict and its build recipe to a safetensors file."""
    from safetensors.torch import save

    from aioir.files import write_bytes  # atomic, the user's umask, errors name the file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return write_bytes(Path(path), save(state, metadata=_metadata(model_name, options, tasks)),
                       what="exported model")


@dataclass
class ExportReport:
    """What :func:`export_checkpoint` wrote and, with ``check``, how close it is to PyTorch."""

    path: Path
    fmt: str
    model: str
    weights: str
    check: Any = None  # graph_export.CheckReport


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    *,
    fmt: str = "safetensors",
    use_ema: bool = True,
    check: bool = False,
    opset: int | None = None,
    overwrite: bool = False,
) -> ExportReport:
    """Export the backbone of a training checkpoint (EMA weights when present and ``use_ema``)
    to ``out`` in ``fmt``; see the module notes."""
    from aioir.files import file_mode, write_error
    from aioir.inference import graph_export

    out = check_output_path(out, fmt, overwrite=overwrite)
    model, meta = load_network(checkpoint, use_ema=use_ema)
    meta_strings = _metadata(meta["model"], meta["options"], meta["tasks"])
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(exc, out, "exported model") from exc
    tmp = temporary_path(out)
    try:
        if fmt == "safetensors":
            save_exported(model, tmp, model_name=meta["model"], options=meta["options"],
                          tasks=meta["tasks"])
        else:
            save = graph_export.save_torchscript if fmt == "torchscript" else graph_export.save_onnx
            kwargs = {"opset": opset or graph_export.ONNX_OPSET} if fmt == "onnx" else {}
            try:
                save(model, tmp, meta_strings, **kwargs)
            except (RuntimeError, TypeError, NotImplementedError) as exc:  # tracer / exporter
                raise ValueError(f"cannot express {meta['model']} in {fmt}: "
                                 f"{graph_export.cause(exc)}") from exc
        report = graph_export.check_export(model, tmp, fmt) if check else None
        os.chmod(tmp, file_mode())
        tmp.replace(out)
    except OSError as exc:  # a full or read-only disk: one line naming the file
        raise write_error(exc, out, "exported model") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(out, fmt, meta["model"], meta["weights"], report)


def load_network(path: str | Path, *, use_ema: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """A ready-to-run backbone from a training checkpoint (``.pt``) or an exported file.

    Returns the model (eval mode, CPU) and metadata: ``model``, ``options``, ``tasks``,
    ``weights`` ("ema", "model" or "export"), ``step`` and ``config`` when known.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint or exported model: {path}")
    if path.suffix in (".ts", ".onnx"):
        raise ValueError(
            f"{path} is a {path.suffix[1:]} graph for other runtimes; aioir restores from a "
            "training checkpoint (.pt) or a .safetensors export"
        )
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        try:  # a damaged or foreign file: one line naming it (issue 16)
            with safe_open(str(path), framework="pt") as fh:
                raw = fh.metadata() or {}
        except Exception as exc:  # noqa: BLE001 - safetensors' own error type
            raise ValueError(f"cannot read {path} as a safetensors file: {exc}") from None
        if raw.get("format") != "aioir-backbone":
            raise ValueError(
                f"{path} is not an aioir export (released third-party weights load through "
                "aioir.models.load_pretrained(name, path))"
            )
        try:
            meta = {
                "model": raw["model"],
                "options": json.loads(raw["options"]),
                "tasks": json.loads(raw["tasks"]),
                "weights": "export",
            }
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: damaged aioir export metadata ({exc!r})") from None
        state = load_file(str(path))
    else:
        from aioir.checkpoint import load_training_checkpoint

        ck = load_training_checkpoint(path)  # format and fields checked, the file named
        mcfg = ck["config"]["model"]
        which = "ema" if use_ema and ck.get("ema") is not None else "model"
        meta = {
            "model": mcfg["name"],
            "options": dict(mcfg.get("options") or {}),
            "tasks": list(ck["task_names"]),
            "weights": which,
            "step": int(ck["step"]),
            "config": ck["config"],
        }
        state = ck[which]
    from aioir.models.guard import build_for_state  # size checked on "meta" before building

    return build_for_state(meta["model"], meta["options"], state, source=str(path)), meta
