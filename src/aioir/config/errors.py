"""The one exception raised for every configuration problem."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """A configuration is invalid: unknown key, wrong type, missing field, bad YAML, ...

    The message always names the full dotted key at fault.

    >>> raise ConfigError("unknown key 'train.lr_rate'; did you mean 'train.lr'?")
    Traceback (most recent call last):
    ...
    aioir.config.errors.ConfigError: unknown key 'train.lr_rate'; did you mean 'train.lr'?
    """


def join_key(path: str, key: object) -> str:
    """Dotted key of ``key`` below ``path``.

    >>> join_key("", "train"), join_key("train", "lr")
    ('train', 'train.lr')
    """
    return f"{path}.{key}" if path else str(key)


def suggest(word: str, choices: Iterable[object], prefix: str = "") -> str:
    """``"; did you mean '<prefix><best>'?"`` for the closest choice, or ``""`` when none is close.

    >>> suggest("lr_rate", ["lr", "epochs"], prefix="train.")
    "; did you mean 'train.lr'?"
    >>> suggest("zzz", ["lr"])
    ''
    """
    word = str(word)
    names = [str(c) for c in choices]
    best = _closest(word, names)
    return f"; did you mean '{prefix}{best}'?" if best is not None else ""


def _closest(word: str, names: list[str]) -> str | None:
    """A clear spelling match, else a shared prefix (``lr_rate`` -> ``lr``), else a loose one."""
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if close:
        return close[0]
    low = word.lower()
    prefixed = [
        n
        for n in names
        if len(n) >= 2 and (low.startswith(n.lower()) or n.lower().startswith(low))
    ]
    if prefixed and len(low) >= 2:
        return max(prefixed, key=lambda n: (len(n), n))
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.45)
    return close[0] if close else None
