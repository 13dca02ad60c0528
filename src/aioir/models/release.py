"""Released weights as every command takes them: what a file is, and which backbone it holds.

The authors publish their networks in a handful of layouts (:mod:`aioir.models.pretrained` reads
them all): a plain ``state_dict`` (AirNet), BasicSR ``{"params"}``/``{"params_ema"}`` (Restormer,
NAFNet, MiOIR/TUR/Art), PyTorch Lightning ``{"state_dict"}`` with ``net.`` keys (PromptIR),
DataParallel ``module.`` keys (TransWeather) and ``.safetensors``. This module turns such a file
into a ready network and says what it did:

* :func:`open_release` reads the file once (safely: ``weights_only``), unwraps it and records
  the layout (:class:`ReleaseFile`: layout in words, the bare state dict, the file's sha256);
* :func:`identify` finds the architecture: with ``model`` given, that backbone's options read
  off the weights (its factory's ``options_from_state_dict`` hook; explicit ``options`` win) and
  the weights checked strictly against it; without, every registered backbone whose options
  read off the weights give exactly the file's keys and shapes (built on the ``meta`` device: no
  memory). One match is taken and named; several raise :class:`AmbiguousReleaseError` listing
  them and ``--model NAME``; none raises :class:`UnknownReleaseError` naming the closest
  backbone and what differs;
* :func:`load_release` builds the network (:func:`aioir.models.guard.build_for_state`) and
  returns it with the metadata the commands use for any checkpoint (``model``, ``options``,
  ``tasks``, ``weights="release"``, plus ``layout``, ``sha256``, ``chosen``).

>>> import tempfile, os, torch
>>> from aioir import models
>>> options = {**models.reduced_options("restormer"), "layernorm_type": "BiasFree"}
>>> net = models.build("restormer", **options)
>>> path = os.path.join(tempfile.mkdtemp(), "real_denoising.pth")
>>> torch.save({"params": net.state_dict()}, path)
>>> found = identify(open_release(path))
>>> found.model, found.options["layernorm_type"], found.chosen
('restormer', 'BiasFree', 'detected')
>>> open_release(path).layout
'BasicSR {"params"}'
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aioir import models
from aioir.checkpoint import load_checkpoint
from aioir.errors import UserError
from aioir.models.guard import build_for_state, check_state_dict, meta_model, state_dict_mismatches
from aioir.models.pretrained import PREFIXES, WRAPPER_KEYS, _is_state_dict, unwrap_state_dict

__all__ = [
    "AmbiguousReleaseError",
    "Identified",
    "ReleaseFile",
    "UnknownReleaseError",
    "describe_choice",
    "identify",
    "load_release",
    "open_release",
    "parse_model_options",
    "release_from_object",
    "sha256_of",
]

#: registered names that wrap another backbone (built from a config, never from bare weights)
WRAPPERS = ("diffusion", "prompted")


class AmbiguousReleaseError(UserError):
    """Several backbones fit a file's weights exactly; ``--model NAME`` picks one."""


class UnknownReleaseError(UserError):
    """No registered backbone fits a file's weights."""


@dataclass
class ReleaseFile:
    """A released weights file, unwrapped: ``layout`` in words (e.g. ``'Lightning
    {"state_dict"}, prefix net.'``), ``state`` (bare names -> tensors), the file's ``sha256``."""

    path: Path
    layout: str
    state: dict[str, torch.Tensor]
    sha256: str

    @property
    def parameters(self) -> int:
        """Elements of every floating-point tensor (weights and float buffers)."""
        return sum(t.numel() for t in self.state.values() if t.is_floating_point())


@dataclass
class Identified:
    """A file's architecture: backbone ``model``, its ``options``, ``state`` as it loads, and
    ``chosen``: ``"named"`` (``--model``) or ``"detected"`` (from the keys)."""

    model: str
    options: dict[str, Any]
    state: dict[str, torch.Tensor]
    chosen: str
    notes: list[str] = field(default_factory=list)


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_weights(path: Path) -> Any:
    """The object stored at ``path``: a safetensors file's tensors, or a ``torch.save`` file
    loaded with ``weights_only=True`` (the messages of :mod:`aioir.checkpoint`)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - safetensors' own error type
            raise ValueError(f"cannot read {path} as a safetensors file: {exc}") from None

    return load_checkpoint(path)


def release_from_object(path: str | os.PathLike[str], obj: Any, *, key: str | None = None,
                        sha256: str | None = None) -> ReleaseFile:
    """:class:`ReleaseFile` of an object already read from ``path`` (see :func:`open_release`)."""
    path = Path(path)
    if not isinstance(obj, Mapping):  # a user's file, not a bug: ValueError, one line
        what = type(obj).__name__
        raise ValueError(f"{path} holds a {what}, not the weights of a network")
    if key is None and not _is_state_dict(obj):
        key = next((k for k in WRAPPER_KEYS if k in obj), None)
        if key is None:
            shown = ", ".join(str(k) for k in list(obj)[:10])
            raise ValueError(
                f"{path}: no weights found: expected a state dict or one of "
                f"{', '.join(WRAPPER_KEYS)} at the top level, found [{shown}]")
    try:
        state = unwrap_state_dict(obj, key)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: {exc.args[0] if exc.args else exc}") from None
    layout = ("safetensors" if path.suffix == ".safetensors" else
              "plain state_dict" if key is None else
              f'Lightning {{"{key}"}}' if key == "state_dict" else f'BasicSR {{"{key}"}}')
    stripped: list[str] = []
    while state:
        shared = next((p for p in PREFIXES if all(k.startswith(p) for k in state)), None)
        if shared is None:
            break
        stripped.append(shared)
        state = {k[len(shared):]: v for k, v in state.items()}
    if stripped:
        layout += ", prefix " + "".join(stripped)
    return ReleaseFile(path, layout, state, sha256 or sha256_of(path))


def open_release(path: str | os.PathLike[str], *, key: str | None = None) -> ReleaseFile:
    """Read a released weights file (any layout of :mod:`aioir.models.pretrained`), unwrap it
    and name its layout. ``key`` picks the entry (``params`` for BasicSR's raw weights; the
    default takes ``params_ema``, the EMA weights the papers evaluate)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint or weights file: {path}")
    return release_from_object(path, read_weights(path), key=key)


def _fit(name: str, state: Mapping[str, torch.Tensor], options: Mapping[str, Any], *,
         source: str) -> tuple[dict[str, Any], dict[str, torch.Tensor], tuple[int, int, int]]:
    """``(options, adapted state, (missing, unexpected, shape mismatches))`` of backbone
    ``name`` for ``state``: options read off the weights by its hook, ``options`` on top, the
    model built on ``meta``. Raises ``ValueError`` when the hook cannot read the weights or the
    options do not build."""
    factory = models.MODELS.get(name)
    derive = getattr(factory, "options_from_state_dict", None)
    try:
        derived = dict(derive(state)) if derive is not None else {}
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"the weights are not a {name}'s ({type(exc).__name__}: {exc})") \
            from None
    built = {**derived, **options}
    meta = meta_model(name, built, source=source)
    if meta is None:
        raise ValueError(f"{name} cannot be checked on the meta device")
    adapt = getattr(meta, "adapt_state_dict", None)
    adapted = dict(adapt(dict(state)) if adapt is not None else state)
    missing, unexpected, shapes = state_dict_mismatches(meta, adapted)
    return built, adapted, (len(missing), len(unexpected), len(shapes))


def identify(release: ReleaseFile, model: str | None = None,
             options: Mapping[str, Any] | None = None) -> Identified:
    """The backbone and options ``release`` holds (see the module notes)."""
    options = dict(options or {})
    source = str(release.path)
    if model is not None:
        if model not in models.names():
            raise ValueError(f"--model {model}: unknown backbone; registered: "
                             f"{', '.join(models.names())}")
        built, state, _ = _fit(model, release.state, options, source=source)
        check_state_dict(meta_model(model, built, source=source), state,  # type: ignore[arg-type]
                         source=f"{source} (as --model {model})")
        return Identified(model, built, state, "named")
    found: list[Identified] = []
    closest: tuple[int, str, tuple[int, int, int]] | None = None
    for name in models.names():
        if name in WRAPPERS:
            continue
        try:
            built, state, counts = _fit(name, release.state, options, source=source)
        except (ValueError, TypeError, KeyError):
            continue
        if counts == (0, 0, 0):
            found.append(Identified(name, built, state, "detected"))
        elif closest is None or sum(counts) < closest[0]:
            closest = (sum(counts), name, counts)
    if len(found) == 1:
        return found[0]
    if found:
        names = [f.model for f in found]
        raise AmbiguousReleaseError(
            f"{source} ({release.layout}) fits several backbones: {', '.join(names)}; pick one "
            f"with --model NAME (e.g. --model {names[0]})")
    hint = ""
    if closest is not None:
        m, u, s = closest[2]
        hint = (f"; the closest is {closest[1]} ({m} missing, {u} unexpected, {s} mismatched "
                f"tensors: pass --model {closest[1]} to see them)")
    raise UnknownReleaseError(
        f"{source} ({release.layout}, {len(release.state)} tensors) fits no registered "
        f"backbone with the options read off its weights{hint}; registered: "
        f"{', '.join(n for n in models.names() if n not in WRAPPERS)}")


def load_release(path: str | os.PathLike[str], *, model: str | None = None,
                 options: Mapping[str, Any] | None = None, tasks: list[str] | None = None,
                 key: str | None = None, release: ReleaseFile | None = None,
                 ) -> tuple[nn.Module, dict[str, Any]]:
    """A released file as ``(network in eval mode on the CPU, metadata)``: what
    :func:`aioir.inference.reader.load_network` returns for aioir's own files, with
    ``weights="release"`` and the file's ``layout``, ``sha256`` and how the architecture was
    ``chosen``. ``tasks``: the tasks the authors trained it on, when known (else ``[]``)."""
    release = release if release is not None else open_release(path, key=key)
    found = identify(release, model, options)
    net = build_for_state(found.model, found.options, found.state, source=str(release.path))
    meta = {
        "model": found.model,
        "options": found.options,
        "tasks": list(tasks or []),
        "weights": "release",
        "layout": release.layout,
        "sha256": release.sha256,
        "chosen": found.chosen,
        "source": release.path.name,
    }
    return net, meta


def describe_choice(meta: Mapping[str, Any]) -> str | None:
    """One line saying which architecture a released file was read as, or None for aioir's
    own files.

    >>> meta = {"weights": "release", "model": "nafnet", "chosen": "detected",
    ...         "layout": "plain state_dict", "source": "w.pth", "options": {}}
    >>> print(describe_choice(meta))  # doctest: +ELLIPSIS
    w.pth: plain state_dict weights, detected as nafnet from its keys (pass --model NAME to ...
    """
    if meta.get("weights") != "release":
        return None
    how = ("detected as {m} from its keys (pass --model NAME to choose another)"
           if meta.get("chosen") == "detected" else "read as {m} (--model)")
    return f"{meta.get('source')}: {meta.get('layout')} weights, " + how.format(m=meta["model"])


def parse_model_options(items: list[str] | None) -> dict[str, Any]:
    """``["layernorm_type=BiasFree", "heads=[1,2,4,8]"]`` -> options (values read as YAML).

    >>> parse_model_options(["layernorm_type=BiasFree", "heads=[1, 2]", "bias=false"])
    {'layernorm_type': 'BiasFree', 'heads': [1, 2], 'bias': False}
    """
    import yaml

    options: dict[str, Any] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--option {item!r}: write NAME=VALUE (e.g. "
                             "--option layernorm_type=BiasFree)")
        try:
            options[name.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"--option {item!r}: cannot read the value ({exc})") from None
    return options
