"""Command-line overrides ``a.b=value`` applied to a plain config dict.

Values are parsed as YAML (:func:`~aioir.config.yaml_io.parse_value`), so ``3``, ``1e-4``,
``true``, ``null``, ``[1, 2]`` and ``{k: v}`` all work; quote to force a string (``a='3'``).
Intermediate dicts are created as needed; whether a key exists is checked later by
:func:`~aioir.config.typed.from_dict`, which suggests the closest valid key.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError
from .yaml_io import parse_value

__all__ = ["apply_overrides", "parse_override"]


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``"a.b=value"`` into ``(["a", "b"], parsed value)``.

    >>> parse_override("train.lr=1e-4")
    (['train', 'lr'], 0.0001)
    >>> parse_override("data.tasks=[noise, rain]")
    (['data', 'tasks'], ['noise', 'rain'])
    """
    key, sep, text = item.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not key or any(not p for p in parts):
        raise ConfigError(f"override {item!r} must look like 'a.b=value'")
    return parts, parse_value(text.strip())


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of ``data`` with every ``"a.b=value"`` override applied, in order.

    >>> apply_overrides({"train": {"lr": 2e-4}}, ["train.lr=1e-3", "model.width=16"])
    {'train': {'lr': 0.001}, 'model': {'width': 16}}
    """
    out = copy.deepcopy(dict(data))
    for item in overrides:
        parts, value = parse_override(item)
        node = out
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(
                    f"override {item!r}: '{where}' is {child!r}, not a mapping, so it has no keys"
                )
            node = child
        node[parts[-1]] = value
    return out
