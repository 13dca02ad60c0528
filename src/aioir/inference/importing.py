"""``aioir import``: released weights written as a self-describing aioir ``.safetensors``.

Reading a release (its layout, the architecture detected from its keys) is the model floor's
job (:mod:`aioir.models.release`); writing the exported file is this floor's
(:func:`aioir.inference.export.save_exported`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aioir.checkpoint import is_training_checkpoint
from aioir.inference.export import check_output_path, save_exported
from aioir.models.release import load_release, open_release, read_weights, release_from_object

__all__ = ["import_release"]


def import_release(path: str | os.PathLike[str], out: str | os.PathLike[str], *,
                   model: str | None = None, options: Mapping[str, Any] | None = None,
                   tasks: list[str] | None = None, key: str | None = None,
                   overwrite: bool = False) -> tuple[Path, dict[str, Any]]:
    """Write released weights as an aioir ``.safetensors`` (``aioir import``): the network's
    weights, model name, options and ``tasks``, and the source file's name, layout and sha256.
    Returns ``(written path, metadata)``; ``out`` must not exist unless ``overwrite``.

    >>> import tempfile, pathlib, torch
    >>> from aioir import models
    >>> from aioir.inference.reader import load_network
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> net = models.build("airnet", **models.reduced_options("airnet"))
    >>> torch.save(net.state_dict(), d / "All.pth")
    >>> out, _ = import_release(d / "All.pth", d / "airnet.safetensors", tasks=["noise", "rain"])
    >>> net, meta = load_network(out)
    >>> meta["model"], meta["tasks"], meta["source"]
    ('airnet', ['noise', 'rain'], 'All.pth')
    """
    path = Path(path)
    target = check_output_path(out, "safetensors", overwrite=overwrite)
    if not path.is_file():
        raise FileNotFoundError(f"no such weights file: {path}")
    if path.resolve() == target.resolve():
        raise ValueError(f"--out {target} is the file being imported; choose another name")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            if (fh.metadata() or {}).get("format") == "aioir-backbone":
                raise ValueError(f"{path} is already an aioir file; every command takes it as is")
        found = open_release(path, key=key)
    else:
        obj = read_weights(path)
        if is_training_checkpoint(obj):
            raise ValueError(f"{path} is an aioir training checkpoint: use aioir export to "
                             "write its backbone")
        found = release_from_object(path, obj, key=key)
    net, meta = load_release(path, model=model, options=options, tasks=tasks, release=found)
    extra = {"source": path.name, "source_sha256": found.sha256, "source_layout": found.layout}
    written = save_exported(net, target, model_name=meta["model"], options=meta["options"],
                            tasks=meta["tasks"], extra=extra)
    return written, meta
