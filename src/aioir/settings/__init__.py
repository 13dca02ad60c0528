"""Benchmark task settings: which tasks, which files, which evaluation protocol.

Settings are YAML files (``configs/settings/<name>.yaml``, or the folder named by the
``AIOIR_SETTINGS_DIR`` environment variable); ``get_setting`` also accepts a path to a YAML
file. Every path inside a setting is relative to the dataset root given at run time.

* :func:`get_setting` / :func:`names` — look settings up;
* :func:`build_train_dataset` — the mixed training stream (what ``data.source: setting`` uses);
* :meth:`Setting.test_sets` — the test sets; :mod:`aioir.settings.evaluate` — ``aioir eval
  --setting``; :mod:`aioir.settings.check` — ``aioir data check``.

>>> "three_task" in names()
True
>>> s = get_setting("three_task")
>>> s.task_names
('denoise_15', 'denoise_25', 'denoise_50', 'derain', 'dehaze')
>>> s.protocol.name
'airnet'
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from aioir.settings.spec import Setting, SourceSpec

__all__ = ["Setting", "SourceSpec", "build_train_dataset", "get_setting", "names",
           "settings_dir"]


def settings_dir() -> Path:
    """The folder of the setting YAML files: ``$AIOIR_SETTINGS_DIR`` or the repository's
    ``configs/settings`` (found above the package)."""
    env = os.environ.get("AIOIR_SETTINGS_DIR")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "configs" / "settings"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "configs/settings not found above the aioir package; set AIOIR_SETTINGS_DIR")


def names() -> list[str]:
    """Names of the available settings, sorted."""
    return sorted(p.stem for p in settings_dir().glob("*.yaml"))


@lru_cache(maxsize=None)
def _load(path: str) -> Setting:
    from aioir.config import load_yaml

    data = load_yaml(path)
    data.setdefault("name", Path(path).stem)
    return Setting.from_dict(data, where=Path(path).name)


def get_setting(name: str | Setting) -> Setting:
    """The setting called ``name`` (or read from the YAML file ``name``).

    >>> get_setting("three_tsak")
    Traceback (most recent call last):
    ...
    ValueError: unknown setting 'three_tsak'; did you mean 'three_task'? Known: allweather, daclip10, five_task, mioir7, mioir7_offline, realweather, three_task
    """
    if isinstance(name, Setting):
        return name
    if str(name).endswith((".yaml", ".yml")) and Path(name).is_file():
        return _load(str(Path(name).resolve()))
    path = settings_dir() / f"{name}.yaml"
    if not path.is_file():
        from aioir.config.errors import suggest

        known = names()
        raise ValueError(f"unknown setting {name!r}{suggest(str(name), known)} "
                         f"Known: {', '.join(known)}")
    return _load(str(path))


def build_train_dataset(setting: str | Setting, root: str | os.PathLike[str], data_cfg: Any,
                        seed: int, length: int):
    """The training dataset of ``setting`` under ``root``: sample ``i`` is a pure function of
    ``(seed, i)``, any index >= 0 is valid; ``data_cfg.balance`` picks ``balanced``,
    ``random`` or ``concat`` (see :mod:`aioir.settings.datasets`)."""
    from aioir.settings.datasets import build_train_dataset as build

    return build(get_setting(setting), root, data_cfg, seed=seed, length=length)
