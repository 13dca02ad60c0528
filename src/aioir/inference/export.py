"""Export the plain backbone of a training checkpoint, and load networks for inference.

The exported file is a ``.safetensors`` file holding only the backbone's ``state_dict()`` (the
EMA weights by default, as evaluated), with the model name, its constructor options and the task
names in the file's metadata. No strategy part (TUR's uncertainty head, Art's state) is in it.

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
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn


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

    from aioir import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    meta = {
        "format": "aioir-backbone",
        "model": model_name,
        "options": json.dumps(options),
        "tasks": json.dumps(tasks),
        "aioir_version": __version__,
    }
    from aioir.files import write_bytes  # atomic, the user's umask, errors name the file

    return write_bytes(path, save(state, metadata=meta), what="exported model")


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, use_ema: bool = True) -> Path:
    """Export the backbone of a training checkpoint (EMA weights when present and ``use_ema``)."""
    model, meta = load_network(checkpoint, use_ema=use_ema)
    return save_exported(
        model, out, model_name=meta["model"], options=meta["options"], tasks=meta["tasks"]
    )


def load_network(path: str | Path, *, use_ema: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """A ready-to-run backbone from a training checkpoint (``.pt``) or an exported file.

    Returns the model (eval mode, CPU) and metadata: ``model``, ``options``, ``tasks``,
    ``weights`` ("ema" or "model"), ``step`` when known.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint or exported model: {path}")
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
