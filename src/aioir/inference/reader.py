"""Load a ready-to-run network for inference: the one reader of training checkpoints,
aioir's ``.safetensors`` exports and imports, and the authors' released weights (through
:mod:`aioir.models.release`). :mod:`aioir.inference.export` writes what this module reads.

>>> import tempfile, pathlib, torch
>>> from aioir import models
>>> from aioir.inference.export import save_exported
>>> net = models.build("tiny_unet", width=8)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "net.safetensors"
>>> _ = save_exported(net, path, model_name="tiny_unet", options={"width": 8}, tasks=["noise"])
>>> back, meta = load_network(path)
>>> meta["model"], meta["tasks"], meta["weights"]
('tiny_unet', ['noise'], 'export')
>>> all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), back.state_dict().values()))
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file

from aioir.checkpoint import check_training_checkpoint, is_training_checkpoint, load_checkpoint
from aioir.models import release
from aioir.models.guard import build_for_state  # size checked on "meta" before building


def load_network(path: str | Path, *, use_ema: bool = True, model: str | None = None,
                 options: dict[str, Any] | None = None, tasks: list[str] | None = None,
                 ) -> tuple[nn.Module, dict[str, Any]]:
    """A ready-to-run backbone from a training checkpoint (``.pt``), an exported or imported
    file, or the authors' released weights (:func:`aioir.models.release.load_release`:
    ``model``, ``options`` and ``tasks`` apply to those; ``model`` must agree with aioir's
    own files).

    Returns the model (eval mode, CPU) and metadata: ``model``, ``options``, ``tasks``,
    ``weights`` ("ema", "model", "export" or "release"), ``step`` and ``config`` when known.
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
        try:  # a damaged or foreign file: one line naming it (issue 16)
            with safe_open(str(path), framework="pt") as fh:
                raw = fh.metadata() or {}
        except Exception as exc:  # noqa: BLE001 - safetensors' own error type
            raise ValueError(f"cannot read {path} as a safetensors file: {exc}") from None
        if raw.get("format") != "aioir-backbone":  # the authors' weights as safetensors
            return release.load_release(path, model=model, options=options, tasks=tasks)
        try:
            meta = {
                "model": raw["model"],
                "options": json.loads(raw["options"]),
                "tasks": json.loads(raw["tasks"]),
                "weights": "export",
                # where `aioir import` read the weights (absent from exports of trained runs)
                **{k: raw[k] for k in ("source", "source_sha256", "source_layout") if k in raw},
            }
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: damaged aioir export metadata ({exc!r})") from None
        state = load_file(str(path))
    else:
        obj = load_checkpoint(path)  # read once, safely; a damaged file is named
        if not is_training_checkpoint(obj):  # the authors' weights (.pth, .ckpt, ...)
            found = release.release_from_object(path, obj)
            return release.load_release(path, model=model, options=options, tasks=tasks,
                                        release=found)
        ck = check_training_checkpoint(obj, path)  # format and fields checked, the file named
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
    if model is not None and model != meta["model"]:
        raise ValueError(f"{path} holds a {meta['model']}, not --model {model}")
    if options:
        raise ValueError(f"{path} is an aioir file that records its options; --option applies "
                         "to released weights only")
    if tasks:
        meta["tasks"] = list(tasks)
    return build_for_state(meta["model"], meta["options"], state, source=str(path)), meta
