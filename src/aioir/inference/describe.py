"""What a checkpoint file is, for ``aioir inspect``: :func:`describe_file`.

Any file a command takes: an aioir training checkpoint (step, EMA, strategy), an aioir
``.safetensors`` (an export, or released weights brought in by ``aioir import``: where from), or
the authors' released weights (layout, the architecture read off the keys, or the candidates
when several fit). The network is never built: sizes come from the ``meta`` device.

>>> import tempfile, os, torch
>>> from aioir import models
>>> net = models.build("srresnet", num_feat=4, num_block=1)
>>> path = os.path.join(tempfile.mkdtemp(), "net.pth")
>>> torch.save({"params": net.state_dict()}, path)
>>> info = describe_file(path)
>>> info["kind"], info["model"], info["parameters"] == sum(p.numel() for p in net.parameters())
('released weights', 'srresnet', True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aioir.checkpoint import check_training_checkpoint, is_training_checkpoint, load_checkpoint
from aioir.errors import UserError
from aioir.models import release
from aioir.models.guard import meta_model


def _parameters(model: str, options: Mapping[str, Any]) -> int | None:
    net = meta_model(model, options, source="inspect")
    return None if net is None else sum(p.numel() for p in net.parameters())


def describe_file(path: str | Path, *, model: str | None = None,
                  options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A dict describing ``path``: ``kind``, ``layout``, ``model``, ``options``, ``tasks``,
    ``parameters`` (of the network, from ``meta``), and per kind ``step``/``ema``/``strategy``,
    ``source``/``source_sha256``, ``sha256``/``chosen``, or ``error`` (why no architecture
    fits, naming the candidates and ``--model``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    info: dict[str, Any] = {"file": str(path)}
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                raw = fh.metadata() or {}
        except Exception as exc:  # noqa: BLE001 - safetensors' own error type
            raise ValueError(f"cannot read {path} as a safetensors file: {exc}") from None
        if raw.get("format") == "aioir-backbone":
            info.update(kind="aioir model (imported weights)" if "source_sha256" in raw
                        else "aioir model (export)", layout="safetensors",
                        model=raw.get("model"), options=json.loads(raw.get("options", "{}")),
                        tasks=json.loads(raw.get("tasks", "[]")))
            for k in ("source", "source_sha256", "source_layout", "aioir_version"):
                if k in raw:
                    info[k] = raw[k]
            info["parameters"] = _parameters(info["model"], info["options"])
            return info
        obj: Any = None
        found = release.open_release(path)
    else:
        obj = load_checkpoint(path)
        if is_training_checkpoint(obj):
            ck = check_training_checkpoint(obj, path)
            mcfg = ck["config"]["model"]
            info.update(kind="aioir training checkpoint", layout="aioir-checkpoint",
                        model=mcfg["name"], options=dict(mcfg.get("options") or {}),
                        tasks=list(ck["task_names"]), step=int(ck["step"]),
                        ema=ck.get("ema") is not None,
                        strategy=(ck["config"].get("strategy") or {}).get("name"))
            info["parameters"] = _parameters(info["model"], info["options"])
            return info
        found = release.release_from_object(path, obj)
    info.update(kind="released weights", layout=found.layout, sha256=found.sha256,
                tensors=len(found.state))
    try:
        which = release.identify(found, model, options)
    except UserError as exc:  # ambiguous or unknown: say so, with the candidates
        info["error"] = str(exc)
        return info
    info.update(model=which.model, options=which.options, chosen=which.chosen, tasks=None,
                parameters=_parameters(which.model, which.options))
    return info


def format_description(info: Mapping[str, Any]) -> str:
    """``info`` as the lines ``aioir inspect`` prints.

    >>> print(format_description({"file": "w.pth", "kind": "released weights",
    ...     "layout": "plain state_dict", "model": "airnet", "options": {"n_feats": 64},
    ...     "parameters": 7610377, "tasks": None}))
    file:           w.pth
    kind:           released weights
    layout:         plain state_dict
    model:          airnet
    options:        n_feats=64
    parameters:     7,610,377
    tasks:          not recorded (pass --tasks to aioir import)
    """
    rows: list[tuple[str, str]] = [("file", str(info["file"])), ("kind", str(info["kind"])),
                                   ("layout", str(info.get("layout", "")))]
    if "sha256" in info:
        rows.append(("sha256", info["sha256"]))
    if "error" in info:
        rows.append(("model", info["error"]))
        return "\n".join(f"{k + ':':<15} {v}" for k, v in rows)
    model = str(info["model"])
    if info.get("chosen") == "detected":
        model += " (detected from the keys)"
    rows.append(("model", model))
    opts = info.get("options") or {}
    rows.append(("options", ", ".join(f"{k}={v}" for k, v in opts.items()) or "(defaults)"))
    if info.get("parameters") is not None:
        rows.append(("parameters", f"{info['parameters']:,}"))
    tasks = info.get("tasks")
    rows.append(("tasks", ", ".join(tasks) if tasks else
                 "not recorded (pass --tasks to aioir import)"))
    for key in ("step", "ema", "strategy", "source", "source_sha256", "source_layout"):
        if info.get(key) is not None:
            rows.append((key, str(info[key])))
    return "\n".join(f"{k + ':':<15} {v}" for k, v in rows)
