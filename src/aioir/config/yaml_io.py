"""Reading and writing configuration YAML (``yaml.safe_load`` only: no tags, no eval/exec).

Two additions to plain YAML:

* numbers such as ``1e-4`` or ``5E3`` are floats (YAML 1.1, which PyYAML implements, reads
  them as strings because it wants a dot in the mantissa);
* a top-level ``base: other.yaml`` (or a list of files) includes other configs, resolved
  relative to the including file and deep-merged in order; the including file wins.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from aioir.files import write_text

from .errors import ConfigError
from .typed import to_dict

__all__ = ["load_yaml", "dump_yaml", "dump_yaml_text", "parse_value", "parse_mapping",
           "deep_merge", "ConfigLoader"]

BASE_KEY = "base"


class ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-4``-style numbers as floats."""


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def parse_value(text: str) -> Any:
    """Parse one YAML scalar or flow value, as written after ``=`` in an override.

    >>> parse_value("1e-4"), parse_value("3"), parse_value("true"), parse_value("[1, 2]")
    (0.0001, 3, True, [1, 2])
    >>> parse_value("tur"), parse_value("null"), parse_value("")
    ('tur', None, None)
    """
    try:
        return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - ConfigLoader is a SafeLoader
    except yaml.YAMLError as err:
        raise ConfigError(f"cannot parse {text!r} as YAML: {err}") from err


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``base`` updated by ``top``; nested dicts merge, anything else is replaced.

    >>> deep_merge({"a": {"x": 1, "y": 2}, "l": [1]}, {"a": {"y": 3}, "l": [2]})
    {'a': {'x': 1, 'y': 3}, 'l': [2]}
    """
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_mapping(text: str, where: str) -> dict[str, Any]:
    """The YAML mapping in ``text`` (``where`` names it in errors; empty text: ``{}``).

    >>> parse_mapping("a: 1e-4", "x.yaml")
    {'a': 0.0001}
    """
    try:
        data = yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - ConfigLoader is a SafeLoader
    except yaml.YAMLError as err:
        raise ConfigError(f"invalid YAML in {where!r}: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where!r}: the top level must be a mapping, got {type(data).__name__}")
    return data


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config {str(path)!r}: {err}") from err
    return parse_mapping(text, str(path))


def load_yaml(path: str | os.PathLike[str], _stack: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a config file into a plain dict, resolving ``base:`` includes.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "base.yaml").write_text("train: {lr: 2e-4, iters: 100}\\n")
    >>> _ = (d / "run.yaml").write_text("base: base.yaml\\ntrain: {iters: 5}\\n")
    >>> load_yaml(d / "run.yaml")
    {'train': {'lr': 0.0002, 'iters': 5}}
    """
    path = Path(path).resolve()
    if path in _stack:
        chain = " -> ".join(str(p) for p in (*_stack, path))
        raise ConfigError(f"circular 'base' include: {chain}")
    data = _read_mapping(path)
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{str(path)!r}: 'base' must be a file name or a list of file names")
    merged: dict[str, Any] = {}
    for name in bases:
        merged = deep_merge(merged, load_yaml(path.parent / name, (*_stack, path)))
    return deep_merge(merged, data)


def dump_yaml_text(obj: Any) -> str:
    """A config (dataclass or plain data) as the YAML text :func:`dump_yaml` writes.

    >>> print(dump_yaml_text({"lr": 1e-10, "size": (8, 8)}), end="")
    lr: 1.0e-10
    size:
    - 8
    - 8
    """
    return yaml.safe_dump(to_dict(obj), sort_keys=False, default_flow_style=False,
                          allow_unicode=True)


def dump_yaml(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write a config (dataclass or plain data) as YAML that :func:`load_yaml` reads back
    (atomically, with the user's umask: :func:`aioir.files.write_text`).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
    >>> dump_yaml({"lr": 1e-10, "size": (8, 8)}, p)
    >>> load_yaml(p)
    {'lr': 1e-10, 'size': [8, 8]}
    """
    write_text(path, dump_yaml_text(obj), what="config")
