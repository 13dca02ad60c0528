"""Look settings up by name: the presets shipped inside the package, a user folder, or a file.

The presets are package data (``aioir/settings/presets/*.yaml``, read with
:mod:`importlib.resources`), so an installed aioir finds them without the repository. The folder
named by the environment variable ``AIOIR_SETTINGS_DIR`` is searched first (a setting there
with a preset's name replaces the preset); a path ending in ``.yaml``/``.yml`` is read directly.

>>> "three_task" in names() and "embedded" in names()
True
>>> get_setting("three_task").task_names
('denoise_15', 'denoise_25', 'denoise_50', 'derain', 'dehaze')
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from aioir.config.errors import suggest
from aioir.config.yaml_io import deep_merge, parse_mapping
from aioir.settings.spec import Setting

#: the environment variable naming an extra folder of setting files
ENV = "AIOIR_SETTINGS_DIR"


def presets() -> Any:
    """The packaged presets folder (an :class:`importlib.resources.abc.Traversable`)."""
    return resources.files("aioir.settings").joinpath("presets")


def _user_dir() -> Path | None:
    env = os.environ.get(ENV)
    return Path(env) if env else None


def _files() -> dict[str, tuple[Any, Any]]:
    """``{name: (file, its folder)}``: the presets, then the user folder's files (which win)."""
    found: dict[str, tuple[Any, Any]] = {}
    folder = presets()
    for entry in folder.iterdir():
        if entry.name.endswith(".yaml"):
            found[entry.name[: -len(".yaml")]] = (entry, folder)
    user = _user_dir()
    if user is not None:
        if not user.is_dir():
            raise FileNotFoundError(f"{ENV}={user} is not a folder")
        for path in sorted(user.glob("*.yaml")):
            found[path.stem] = (path, user)
    return found


def _read(entry: Any, folder: Any, stack: tuple[str, ...] = ()) -> dict[str, Any]:
    """The mapping of a setting file, its ``base:`` files (names in the same folder) merged
    under it as in run configs."""
    if entry.name in stack:
        raise ValueError(f"{entry.name}: base files include each other ({' -> '.join(stack)})")
    data = dict(parse_mapping(entry.read_text(encoding="utf-8"), entry.name))
    bases = data.pop("base", None) or []
    merged: dict[str, Any] = {}
    for base in [bases] if isinstance(bases, str) else bases:
        child = folder.joinpath(str(base))
        if not child.is_file():
            raise FileNotFoundError(f"{entry.name}: base {base!r} not found beside it")
        merged = deep_merge(merged, _read(child, folder, stack + (entry.name,)))
    return deep_merge(merged, data)


def names() -> list[str]:
    """Names of the available settings, sorted."""
    return sorted(_files())


_PARSED: dict[tuple[str, str], Setting] = {}


def _parse(entry: Any, folder: Any, name: str) -> Setting:
    key = (str(entry), name)
    if key not in _PARSED:
        data = _read(entry, folder)
        data.setdefault("name", name)
        _PARSED[key] = Setting.from_dict(data, where=entry.name)
    return _PARSED[key]


def get_setting(name: str | Setting) -> Setting:
    """The setting called ``name`` (or read from the YAML file ``name``).

    >>> get_setting("three_tsak")
    Traceback (most recent call last):
    ...
    ValueError: unknown setting 'three_tsak'; did you mean 'three_task'? Known: allweather, daclip10, embedded, five_task, folder, mioir7, mioir7_depth, mioir7_offline, realweather, three_task
    """  # noqa: E501 - the doctest's expected output is one line
    if isinstance(name, Setting):
        return name
    text = str(name)
    if text.endswith((".yaml", ".yml")):
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"setting file not found: {path}")
        return _parse(path.resolve(), path.resolve().parent, path.stem)
    files = _files()
    if text not in files:
        known = sorted(files)
        raise ValueError(f"unknown setting {text!r}{suggest(text, known)} "
                         f"Known: {', '.join(known)}")
    entry, folder = files[text]
    return _parse(entry, folder, text)
