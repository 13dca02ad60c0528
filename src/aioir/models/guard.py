"""Build a backbone only after checking, on PyTorch's ``meta`` device, what it would allocate.

A checkpoint names the backbone and its constructor options; a crafted or corrupt one can ask
for absurd sizes (``width: 20000`` is a 1.4 TB tiny_unet). :func:`build_for_state` first builds
the network on the ``meta`` device (shapes only, no memory), refuses it when its parameters and
buffers exceed :func:`max_model_bytes`, checks the checkpoint's tensors against it (names and
shapes), and only then builds and loads the real network. A checkpoint's options may also ask
for depth (``blocks: 100000000``) rather than width: building that many modules takes minutes
even on ``meta``. So the meta build of a checkpoint is bounded by what the checkpoint contains:
at most :data:`MODULES_PER_TENSOR` modules per tensor of its weights (plus
:data:`MODULES_SLACK`; every registered backbone has fewer than 1.5), counted as they are
constructed and stopped at the first one over the bound. Every loader of checkpoints goes
through here: ``aioir eval``/``restore``/``export``/``serve`` (via
:func:`aioir.inference.reader.load_network`), :func:`aioir.models.load_pretrained`, and
``aioir train`` (for the model its config asks for).

The limit is 16 GiB of parameters and buffers (no restoration network comes near: Restormer
holds 0.1 GB); set ``AIOIR_MAX_MODEL_BYTES`` (bytes, e.g. ``64e9``) to change it.

>>> import torch
>>> model_bytes("tiny_unet", {"width": 8}) == sum(
...     t.numel() * t.element_size() for t in build_for_state(
...         "tiny_unet", {"width": 8}, None, source="test").state_dict().values())
True
>>> check_model_size("tiny_unet", {"width": 20000}, source="crafted.pt")
Traceback (most recent call last):
...
aioir.models.guard.ModelTooLargeError: crafted.pt asks for a tiny_unet with options {'width': 20000}, which holds 1.4 TB of parameters and buffers; aioir refuses models above 17.2 GB (a crafted or corrupt file?). If it is right, raise the limit with AIOIR_MAX_MODEL_BYTES=<bytes>.
"""  # noqa: E501 - the doctest's expected output is one line

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn

from aioir.models._registry import MODELS

LOG = logging.getLogger("aioir")

__all__ = ["DEFAULT_MAX_MODEL_BYTES", "ModelTooLargeError", "max_model_bytes", "model_bytes",
           "meta_model", "check_model_size", "build_for_state", "CheckpointMismatchError",
           "state_dict_mismatches", "check_state_dict"]

DEFAULT_MAX_MODEL_BYTES = 16 * 2**30
#: modules a checkpoint's network may build per tensor of its weights (registered backbones:
#: 0.8 to 1.5), plus a fixed slack
MODULES_PER_TENSOR, MODULES_SLACK = 4, 64


class ModelTooLargeError(ValueError):
    """A backbone's options ask for more parameter memory than the limit allows."""


#: how many names an error message lists per category
MAX_LISTED = 10


class CheckpointMismatchError(ValueError):
    """A checkpoint's keys or shapes do not match the model it is loaded into."""


class _TooManyModules(Exception):
    pass


@contextmanager
def _module_bound(limit: int | None) -> Iterator[None]:
    """Within the block, constructing more than ``limit`` ``nn.Module`` objects in this thread
    raises ``_TooManyModules`` at the first one over (``sys.setprofile`` is per thread, so
    other threads are not slowed or stopped; a profiler already set keeps its events)."""
    if limit is None:
        yield
        return
    init_code, count, previous = nn.Module.__init__.__code__, [0], sys.getprofile()

    def profile(frame: Any, event: Any, arg: Any) -> None:
        if previous is not None:
            previous(frame, event, arg)
        if event == "call" and frame.f_code is init_code:
            count[0] += 1
            if count[0] > limit:
                raise _TooManyModules(count[0])

    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)


def max_model_bytes() -> int:
    """The limit: ``AIOIR_MAX_MODEL_BYTES`` when set, else 16 GiB."""
    raw = os.environ.get("AIOIR_MAX_MODEL_BYTES")
    if not raw:
        return DEFAULT_MAX_MODEL_BYTES
    try:
        value = int(float(raw))
    except ValueError:
        raise ValueError(f"AIOIR_MAX_MODEL_BYTES must be a number of bytes, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"AIOIR_MAX_MODEL_BYTES must be > 0, got {raw!r}")
    return value


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def meta_model(name: str, options: Mapping[str, Any], *, source: str,
               max_modules: int | None = None) -> nn.Module | None:
    """Backbone ``name`` built on the ``meta`` device (no memory); ``None`` when the backbone
    cannot be built there (then no size check is possible; the contract tests keep every
    registered backbone buildable on ``meta``). Wrong options raise ``ValueError`` naming
    ``source``; more than ``max_modules`` modules raise :class:`ModelTooLargeError` as soon as
    the first one over is constructed."""
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise ValueError(f"{source}: model options must be a mapping of names to values, got "
                         f"{options!r}")
    try:
        factory = MODELS.get(name)
    except KeyError as exc:
        raise ValueError(f"{source}: {exc.args[0]}") from None
    try:
        with torch.device("meta"), _module_bound(max_modules):
            return factory(**options)
    except _TooManyModules:
        raise ModelTooLargeError(
            f"{source} asks for a {name} with options {dict(options)}, which builds more than "
            f"{max_modules} modules: more than its weights can fill (a crafted or corrupt "
            "file?)") from None
    except TypeError as exc:
        raise ValueError(f"{source}: {name} does not take the options {dict(options)}: {exc}") \
            from None
    except Exception as exc:  # noqa: BLE001 - e.g. a data-dependent shape: build for real
        LOG.debug("%s: %s cannot be built on the meta device (%s)", source, name, exc)
        return None


def _bytes_of(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size()
               for t in list(model.parameters()) + list(model.buffers()))


def model_bytes(name: str, options: Mapping[str, Any], *, source: str = "model") -> int | None:
    """Bytes of parameters and buffers of backbone ``name`` with ``options``, measured on the
    ``meta`` device (None if it cannot be built there)."""
    model = meta_model(name, options, source=source)
    return None if model is None else _bytes_of(model)


def _check(model: nn.Module, name: str, options: Mapping[str, Any], source: str) -> int:
    size, limit = _bytes_of(model), max_model_bytes()
    if size > limit:
        raise ModelTooLargeError(
            f"{source} asks for a {name} with options {dict(options)}, which holds "
            f"{_human(size)} of parameters and buffers; aioir refuses models above "
            f"{_human(limit)} (a crafted or corrupt file?). If it is right, raise the limit "
            "with AIOIR_MAX_MODEL_BYTES=<bytes>.")
    return size


def check_model_size(name: str, options: Mapping[str, Any], *, source: str) -> int | None:
    """Raise :class:`ModelTooLargeError` when backbone ``name`` with ``options`` would exceed
    :func:`max_model_bytes`; returns its size in bytes (None if not measurable)."""
    model = meta_model(name, options, source=source)
    return None if model is None else _check(model, name, options, source)


def listing(names: Iterable[Any], limit: int = MAX_LISTED) -> str:
    """The first ``limit`` of ``names`` in brackets, with how many more there are.

    >>> listing(range(12), limit=3)
    '[0, 1, 2, ... (9 more)]'
    """
    names = list(names)
    shown = ", ".join(str(n) for n in names[:limit])
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return f"[{shown}{more}]"


def state_dict_mismatches(
    model: nn.Module, state: Mapping[str, torch.Tensor]
) -> tuple[list[str], list[str], list[tuple[str, tuple[int, ...], tuple[int, ...]]]]:
    """``(missing, unexpected, shape_mismatches)`` of ``state`` against ``model.state_dict()``.

    Shape mismatches are ``(name, checkpoint shape, model shape)``.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        (k, tuple(v.shape), tuple(own[k].shape))
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    return missing, unexpected, shapes


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state`` fits ``model`` exactly."""
    missing, unexpected, shapes = state_dict_mismatches(model, state)
    if not (missing or unexpected or shapes):
        return
    lines = [f"{source} does not match {type(model).__name__}:"]
    if missing:
        lines.append(f"  {len(missing)} missing keys: {listing(missing)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} unexpected keys: {listing(unexpected)}")
    if shapes:
        desc = (f"{k} checkpoint {list(a)} vs model {list(b)}" for k, a, b in shapes)
        lines.append(f"  {len(shapes)} shape mismatches: {listing(desc)}")
    raise CheckpointMismatchError("\n".join(lines))


def build_for_state(name: str, options: Mapping[str, Any],
                    state: Mapping[str, torch.Tensor] | None, *, source: str) -> nn.Module:
    """Backbone ``name`` with ``options``, its size checked on ``meta`` first, then (when
    ``state`` is given) the checkpoint's tensors checked against it by name and shape (a
    :class:`CheckpointMismatchError` names them) and loaded strictly.
    Returned in eval mode on the CPU."""
    if state is not None and not (isinstance(state, Mapping) and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        raise ValueError(f"{source}: the weights must be a mapping of names to tensors")
    bound = None if state is None else MODULES_PER_TENSOR * len(state) + MODULES_SLACK
    meta = meta_model(name, options, source=source, max_modules=bound)
    if meta is not None:
        _check(meta, name, options, source)
        if state is not None:
            check_state_dict(meta, state, source=source)
    try:
        model = MODELS.build(name, **options)
    except TypeError as exc:
        raise ValueError(f"{source}: {name} does not take the options {dict(options)}: {exc}") \
            from None
    if state is not None:
        check_state_dict(model, state, source=source)
        model.load_state_dict(state, strict=True)
    return model.eval()
