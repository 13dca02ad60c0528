"""Configuration machinery: YAML -> plain dict -> typed dataclasses, and back.

Generic over any dataclass schema::

    data = load_yaml("configs/run.yaml")              # base: includes resolved
    data = apply_overrides(data, ["train.lr=1e-4"])   # --set a.b=value
    cfg = from_dict(RunConfig, data)                  # typed; unknown keys -> "did you mean"
    dump_yaml(cfg, run_dir / "config.yaml")           # reads back identically

or all at once with :func:`load_config`. Every problem raises :class:`ConfigError`
(a ``ValueError``) naming the full dotted key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from .errors import ConfigError
from .overrides import apply_overrides, parse_override
from .typed import from_dict, to_dict
from .yaml_io import deep_merge, dump_yaml, load_yaml, parse_value

T = TypeVar("T")

__all__ = [
    "ConfigError",
    "apply_overrides",
    "deep_merge",
    "dump_yaml",
    "from_dict",
    "load_config",
    "load_yaml",
    "parse_override",
    "parse_value",
    "to_dict",
]


def load_config(
    cls: type[T], path: str | os.PathLike[str], overrides: Iterable[str] = ()
) -> T:
    """``from_dict(cls, apply_overrides(load_yaml(path), overrides))``.

    >>> import tempfile, pathlib
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Cfg:
    ...     lr: float = 1.0
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
    >>> _ = p.write_text("lr: 2e-4\\n")
    >>> load_config(Cfg, p, ["lr=5e-4"])
    Cfg(lr=0.0005)
    """
    return from_dict(cls, apply_overrides(load_yaml(path), overrides))
