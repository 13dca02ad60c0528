"""What a resumed run may change, and clear errors when a checkpoint does not fit the run.

A checkpoint records the resolved config of the run that wrote it. Resuming with another config
is checked key by key (:func:`config_changes`):

* **bookkeeping keys** (:data:`BOOKKEEPING_KEYS`) change no number the run computes: the run's
  name, the progress bar, logging / checkpoint intervals, how many checkpoints are kept, the
  non-finite-loss limit, data-loader worker counts (sample ``i`` is a pure function of
  ``(seed, i)`` whatever the workers), and every ``val.*`` key (validation reads the network,
  never the training state or the global random generator). Changed freely.
* **execution keys** (:data:`EXECUTION_KEYS`) keep the recipe but change the order of
  floating-point operations (CPU threads, the device, the memory layout, ``torch.compile``), so the resumed run
  is no longer bit-identical to an uninterrupted one: allowed, with a warning.
* **every other key** (model, strategy, data, optimizer, schedule, ``train.steps``, seed,
  precision, stages, ...) changes the run's maths. Extending ``train.steps`` belongs here too:
  the cosine schedule and the stages are laid out over ``train.steps``, so the steps already run
  would not be the first steps of the longer run. Such a resume is refused with
  :class:`ConfigChangedError` naming the keys, unless ``allow_changes`` (``aioir train
  --allow-changes``); the new config is then recorded beside the first (``configs/``).

>>> old = {"optim": {"lr": 0.001}, "train": {"threads": 1, "progress": False}}
>>> new = {"optim": {"lr": 0.5}, "train": {"threads": 2, "progress": True}}
>>> [(c.key, c.kind) for c in config_changes(old, new)]
[('optim.lr', 'maths'), ('train.threads', 'execution'), ('train.progress', 'bookkeeping')]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aioir.config import from_dict, to_dict
from aioir.config.errors import ConfigError
from aioir.config.schema import RunConfig
from aioir.models.guard import state_dict_mismatches

LOG = logging.getLogger("aioir")

__all__ = ["BOOKKEEPING_KEYS", "EXECUTION_KEYS", "Change", "ConfigChangedError",
           "config_changes", "check_resume_config", "restore_part"]

#: keys (or key prefixes) whose change leaves every number of the run as it was
BOOKKEEPING_KEYS: tuple[str, ...] = (
    "name", "train.progress", "train.log_every", "train.checkpoint_every",
    "train.keep_checkpoints", "train.max_nonfinite", "data.num_workers", "data.cache_workers",
    "val",
)
#: keys that keep the recipe but not the bits (floating-point order of operations)
EXECUTION_KEYS: tuple[str, ...] = ("train.threads", "train.device", "train.channels_last",
                                   "train.compile", "train.compile_backend")

_ABSENT = "unset"


class ConfigChangedError(ConfigError):
    """Resuming with a config that changes the run's maths (names the keys)."""


@dataclass(frozen=True)
class Change:
    """One key whose value differs between the checkpoint's config and the new one."""

    key: str
    old: Any
    new: Any
    kind: str  # "bookkeeping" | "execution" | "maths"

    def describe(self) -> str:
        """``key (old -> new)``, values shortened."""
        return f"{self.key} ({_short(self.old)} -> {_short(self.new)})"


def _short(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _matches(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _kind(key: str) -> str:
    if _matches(key, BOOKKEEPING_KEYS):
        return "bookkeeping"
    if _matches(key, EXECUTION_KEYS):
        return "execution"
    return "maths"


def _diff(old: Any, new: Any, key: str, out: list[Change]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for k in list(old) + [k for k in new if k not in old]:
            _diff(old.get(k, _ABSENT), new.get(k, _ABSENT), f"{key}.{k}" if key else str(k), out)
    elif (isinstance(old, list) and isinstance(new, list) and len(old) == len(new)
          and any(isinstance(v, Mapping) for v in old)):
        for i, (a, b) in enumerate(zip(old, new)):
            _diff(a, b, f"{key}.{i}", out)
    elif old != new:
        out.append(Change(key, old, new, _kind(key)))


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every key whose value differs between two resolved configs (plain dicts), in the
    configs' key order; lists of mappings (stages) are compared item by item."""
    out: list[Change] = []
    _diff(old, new, "", out)
    return out


def _normalised(old: Mapping[str, Any]) -> Mapping[str, Any]:
    """The checkpoint's config with today's defaults filled in (a key added to the schema since
    is not a change); as stored when it no longer parses."""
    try:
        return to_dict(from_dict(RunConfig, dict(old)))
    except (ConfigError, TypeError, ValueError):
        return old


def check_resume_config(old: Mapping[str, Any] | None, new: Any, *, allow: bool,
                        source: str | Path) -> list[Change]:
    """Compare the checkpoint's config ``old`` with the run's ``new`` (a ``RunConfig``); log
    the allowed changes, raise :class:`ConfigChangedError` for changes of the maths unless
    ``allow``. Returns every change."""
    if not old:
        return []
    changes = config_changes(_normalised(old), to_dict(new))
    maths = [c for c in changes if c.kind == "maths"]
    if maths and not allow:
        listed = ", ".join(c.describe() for c in maths)
        raise ConfigChangedError(
            f"resuming {source} with a config that changes the run: {listed}; the steps already "
            "run used the old values. Resume with the run's own config (config.yaml in the run "
            "folder, or configs/ for a later resume), or pass --allow-changes to go on with the "
            "new values (recorded in the run folder's configs/)")
    for c in maths:
        LOG.warning("resume: %s changed (--allow-changes)", c.describe())
    for c in changes:
        if c.kind == "execution":
            LOG.warning("resume: %s changed: same recipe, but the resumed run is no longer "
                        "bit-identical to an uninterrupted one", c.describe())
    return changes


def restore_part(part: str, load: Callable[[], Any], source: str | Path,
                 changes: list[Change], model: Any = None, state: Any = None) -> None:
    """Run ``load`` (e.g. ``model.load_state_dict(state)``); when the checkpoint's ``part``
    does not fit, raise one ``ValueError`` line naming the first mismatching tensors (for a
    model: pass ``model`` and ``state``) and the config keys that differ."""
    try:
        load()
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        detail = _model_mismatch(model, state) if model is not None else ""
        if not detail:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        differ = ", ".join(c.describe() for c in changes if c.kind == "maths") or "none"
        raise ValueError(f"checkpoint {source}: its {part} state does not fit the run built "
                         f"from the config ({detail}); config keys that differ from the "
                         f"checkpoint's: {differ}") from exc


def _model_mismatch(model: Any, state: Any, limit: int = 3) -> str:
    try:
        missing, unexpected, shapes = state_dict_mismatches(model, state)
    except Exception:  # noqa: BLE001 - only a better message is at stake
        return ""
    parts = []
    if shapes:
        first = "; ".join(f"{k} {list(a)} in the checkpoint vs {list(b)} in the model"
                          for k, a, b in shapes[:limit])
        parts.append(f"{len(shapes)} tensors differ in shape, first: {first}")
    if missing:
        parts.append(f"{len(missing)} missing, first: {', '.join(missing[:limit])}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected, first: {', '.join(unexpected[:limit])}")
    return "; ".join(parts)
