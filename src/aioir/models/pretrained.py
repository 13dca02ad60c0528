"""Load the authors' released weights into aioir backbones, strictly.

Released checkpoints come in a handful of wrappers; :func:`load_state_dict_file` unwraps them:

* a plain state dict (``torch.save(net.state_dict())``; AirNet);
* BasicSR: ``{"params": sd, "params_ema": sd}`` (Restormer, NAFNet, MiOIR/TUR/Art runs);
  ``params_ema`` is preferred when present (the EMA weights are the ones the papers evaluate),
  ``key="params"`` picks the raw weights;
* PyTorch Lightning: ``{"state_dict": sd, "epoch": ..., ...}`` (PromptIR's ``model.ckpt``);
* ``.safetensors`` files (read with :func:`safetensors.torch.load_file`);

then strips a wrapper prefix shared by every key (``net.`` from Lightning, ``module.`` from
DataParallel/DDP, ``model.``), repeatedly. Files are read with ``torch.load(map_location="cpu",
weights_only=True)``; only for a file you trust and that holds arbitrary pickled objects, pass
``trusted=True``.

:func:`load_pretrained` builds the backbone and loads strictly: any missing key, unexpected key
or shape mismatch raises :class:`~aioir.models.guard.CheckpointMismatchError` listing them
(:func:`aioir.models.guard.check_state_dict`). Two optional hooks let a
backbone adapt to its checkpoints without special cases here:

* ``options_from_state_dict(state) -> dict`` (class- or static method of the registered factory):
  constructor options read off the checkpoint before building (e.g. PromptIR's unused convs,
  AirNet's queue length); options passed explicitly win;
* ``adapt_state_dict(state) -> state`` (method of the built model): renames or drops for format
  quirks, applied before the strict check.

>>> import tempfile, os, torch
>>> from aioir import models
>>> src = models.build("srresnet", num_feat=4, num_block=1)
>>> path = os.path.join(tempfile.mkdtemp(), "net.pth")
>>> torch.save({"params": {"module." + k: v for k, v in src.state_dict().items()}}, path)
>>> net = load_pretrained("srresnet", path, num_feat=4, num_block=1)
>>> torch.equal(net.conv_last.weight, src.conv_last.weight)
True
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.nn as nn

from aioir.checkpoint import load_failure, torch_load
from aioir.models._registry import MODELS
from aioir.models.guard import (
    CheckpointMismatchError,
    check_model_size,
    check_state_dict,
    listing,
)

__all__ = ["PREFIXES", "WRAPPER_KEYS", "CheckpointMismatchError", "read_checkpoint",
           "unwrap_state_dict", "strip_prefixes", "load_state_dict_file", "count_indexed",
           "load_pretrained"]

#: wrapper prefixes stripped when every key carries them
PREFIXES: tuple[str, ...] = ("module.", "net.", "model.")
#: keys of wrapping dicts, in order of preference when no ``key`` is given
WRAPPER_KEYS: tuple[str, ...] = ("params_ema", "params", "state_dict")
def read_checkpoint(path: str | os.PathLike[str], *, trusted: bool = False) -> Any:
    """The raw object stored at ``path`` (``.safetensors`` or a ``torch.save`` file), on CPU."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    try:
        return torch_load(path, weights_only=not trusted)
    except Exception as exc:
        hint = "" if trusted else " (if you trust this file and it pickles objects, pass trusted=True)"
        raise ValueError(f"cannot read checkpoint {path}: {load_failure(exc)}{hint}") from exc


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def unwrap_state_dict(obj: Any, key: str | None = None) -> dict[str, torch.Tensor]:
    """The state dict inside a released checkpoint object.

    ``key`` names the entry to take (for example ``"params"``); without it, the first of
    ``params_ema``, ``params``, ``state_dict`` present is taken, or ``obj`` itself when it is a
    flat mapping of tensors.

    >>> sd = {"w": torch.zeros(1)}
    >>> list(unwrap_state_dict({"params": sd, "params_ema": {"w": torch.ones(1)}})["w"])
    [tensor(1.)]
    >>> list(unwrap_state_dict({"params": sd, "params_ema": {"w": torch.ones(1)}}, "params")["w"])
    [tensor(0.)]
    """
    if not isinstance(obj, Mapping):
        raise ValueError(f"a checkpoint must be a dict, got {type(obj).__name__}")
    if key is not None:
        if key not in obj:
            raise KeyError(f"checkpoint has no entry {key!r}; top-level keys: {listing(obj)}")
        found = obj[key]
    elif _is_state_dict(obj):
        found = obj
    else:
        wrapper = next((k for k in WRAPPER_KEYS if k in obj), None)
        if wrapper is None:
            raise ValueError(
                "cannot find the weights in this checkpoint: expected a state dict or one of "
                f"{', '.join(WRAPPER_KEYS)}; top-level keys: {listing(obj)} (pass key=...)"
            )
        found = obj[wrapper]
    if not _is_state_dict(found):
        raise ValueError("the selected checkpoint entry is not a non-empty mapping of name -> tensor")
    return dict(found)


def strip_prefixes(
    state: Mapping[str, torch.Tensor], prefixes: Iterable[str] = PREFIXES
) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes that every key shares (repeatedly: ``module.net.x`` -> ``x``).

    >>> list(strip_prefixes({"module.net.a": 1, "module.net.b": 2}))
    ['a', 'b']
    >>> list(strip_prefixes({"net.a": 1, "b": 2}))  # not shared by every key: kept
    ['net.a', 'b']
    """
    prefixes = tuple(prefixes)
    out = dict(state)
    while out:
        shared = next((p for p in prefixes if all(k.startswith(p) for k in out)), None)
        if shared is None:
            break
        out = {k[len(shared) :]: v for k, v in out.items()}
    return out


def load_state_dict_file(
    path: str | os.PathLike[str], key: str | None = None, *, trusted: bool = False
) -> dict[str, torch.Tensor]:
    """Read ``path`` and return the bare state dict (unwrapped, prefixes stripped, on CPU)."""
    return strip_prefixes(unwrap_state_dict(read_checkpoint(path, trusted=trusted), key))


def count_indexed(state: Mapping[str, Any], prefix: str) -> int:
    """How many numbered children ``prefix.<i>.`` the keys of ``state`` hold (highest index +
    1; 0 when none): a block count read off a checkpoint.

    >>> count_indexed({"body.0.w": 1, "body.2.w": 1, "bodyx.5.w": 1}, "body")
    3
    """
    import re

    pat = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return max((int(m.group(1)) + 1 for k in state if (m := pat.match(k))), default=0)


def load_pretrained(
    name: str,
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    trusted: bool = False,
    **options: Any,
) -> nn.Module:
    """Build backbone ``name`` and load the released weights at ``path`` strictly.

    Args:
        name: registered backbone name.
        path: checkpoint file (any format of :func:`load_state_dict_file`).
        key: entry of the checkpoint dict holding the weights (default: ``params_ema``,
            ``params``, ``state_dict``, or the dict itself).
        trusted: allow arbitrary pickled objects in the file (``weights_only=False``).
        **options: constructor options; they override those read off the checkpoint by the
            backbone's ``options_from_state_dict`` hook.

    Returns:
        The model with the checkpoint's weights (in training mode, like any freshly built model).
    """
    state = load_state_dict_file(path, key, trusted=trusted)
    factory = MODELS.get(name)
    derive = getattr(factory, "options_from_state_dict", None)
    built_options = {**(derive(state) if derive is not None else {}), **options}
    check_model_size(name, built_options, source=f"checkpoint {os.fspath(path)}")
    model = factory(**built_options)
    adapt = getattr(model, "adapt_state_dict", None)
    if adapt is not None:
        state = adapt(state)
    check_state_dict(model, state, source=f"checkpoint {os.fspath(path)}")
    model.load_state_dict(state, strict=True)
    return model
