"""Typed conversion between plain dicts (as read from YAML) and nested dataclasses.

:func:`from_dict` is generic over any dataclass: it reads the field types with
``typing.get_type_hints`` (so ``from __future__ import annotations`` works) and converts every
value, failing with a :class:`ConfigError` that names the full dotted key. :func:`to_dict` is
its inverse: ``from_dict(type(c), to_dict(c)) == c``.

Supported field types: nested dataclasses, ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``,
``dict[K, V]``, ``Optional[X]`` / ``X | None`` and other unions, ``Literal[...]``, ``Any``,
``int``, ``float``, ``bool``, ``str``, ``pathlib.Path`` and ``enum.Enum`` subclasses.

Coercions are deliberately few: ``int -> float``; an integral float (``1e5``) -> ``int``;
``str -> Path``; ``list <-> tuple``; an Enum from its value. A bool is never a number, a
number never a string, a string never a number.
"""


import dataclasses
import enum
import pathlib
import types
import typing
from typing import Any, Literal, TypeVar, Union

from .errors import ConfigError, join_key, suggest

T = TypeVar("T")

__all__ = ["from_dict", "to_dict"]


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _value_desc(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _fail(path: str, tp: Any, value: Any) -> ConfigError:
    key = path or "<root>"
    return ConfigError(f"{key}: expected {_type_name(tp)}, got {_value_desc(value)}")


def _convert(tp: Any, value: Any, path: str) -> Any:
    """Convert ``value`` to the type ``tp``; raise :class:`ConfigError` naming ``path``."""
    if tp is Any or tp is object:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _fail(path, tp, value)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        return _convert_union(tp, args, value, path)
    if origin is Literal:
        for choice in args:
            if type(choice) is type(value) and choice == value:
                return value
        allowed = ", ".join(repr(a) for a in args)
        hint = suggest(str(value), [str(a) for a in args]) if isinstance(value, str) else ""
        raise ConfigError(f"{path or '<root>'}: {value!r} is not one of {allowed}{hint}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, typing.Mapping):
            raise _fail(path, tp, value)
        return from_dict(tp, value, path)
    if origin in (list, typing.Sequence, typing.MutableSequence) or tp is list:
        if not isinstance(value, (list, tuple)):
            raise _fail(path, tp, value)
        item = args[0] if args else Any
        return [_convert(item, v, join_key(path, i)) for i, v in enumerate(value)]
    if origin is tuple or tp is tuple:
        return _convert_tuple(tp, args, value, path)
    if origin in (dict, typing.Mapping, typing.MutableMapping) or tp is dict:
        if not isinstance(value, typing.Mapping):
            raise _fail(path, tp, value)
        ktp, vtp = args if args else (Any, Any)
        return {
            _convert(ktp, k, join_key(path, k)): _convert(vtp, v, join_key(path, k))
            for k, v in value.items()
        }
    return _convert_scalar(tp, value, path)


def _convert_union(tp: Any, args: tuple[Any, ...], value: Any, path: str) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise _fail(path, tp, value)
    errors = []
    # exact type matches first, so that ``int | str`` keeps 3 an int and "3" a str
    ordered = sorted((a for a in args if a is not type(None)), key=lambda a: type(value) is not a)
    for arg in ordered:
        try:
            return _convert(arg, value, path)
        except ConfigError as err:
            errors.append(str(err))
    if len(errors) == 1:
        raise ConfigError(errors[0])
    raise _fail(path, tp, value)


def _convert_tuple(tp: Any, args: tuple[Any, ...], value: Any, path: str) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise _fail(path, tp, value)
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        item = args[0] if args else Any
        return tuple(_convert(item, v, join_key(path, i)) for i, v in enumerate(value))
    if len(args) != len(value):
        raise ConfigError(
            f"{path or '<root>'}: expected {len(args)} items ({_type_name(tp)}), got {len(value)}"
        )
    return tuple(_convert(a, v, join_key(path, i)) for i, (a, v) in enumerate(zip(args, value)))


def _convert_scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(path, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _fail(path, tp, value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _fail(path, tp, value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(path, tp, value)
    if isinstance(tp, type) and issubclass(tp, pathlib.PurePath):
        if isinstance(value, (str, pathlib.PurePath)):
            return tp(value)
        raise _fail(path, tp, value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if isinstance(value, tp):
            return value
        for member in tp:
            if type(member.value) is type(value) and member.value == value:
                return member
        allowed = ", ".join(repr(m.value) for m in tp)
        hint = suggest(str(value), [str(m.value) for m in tp]) if isinstance(value, str) else ""
        raise ConfigError(f"{path or '<root>'}: {value!r} is not one of {allowed}{hint}")
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _fail(path, tp, value)
    raise ConfigError(f"{path or '<root>'}: unsupported field type {_type_name(tp)}")


def from_dict(cls: type[T], data: typing.Mapping[str, Any], path: str = "") -> T:
    """Build the dataclass ``cls`` (and its nested dataclasses) from a plain mapping.

    Args:
        cls: a dataclass type.
        data: mapping of field name -> value (as read from YAML).
        path: dotted prefix used in error messages (the key ``data`` was found under).

    Raises:
        ConfigError: unknown key (with a "did you mean"), wrong type, missing required field,
            or an error raised by the dataclass's own ``__post_init__`` validation.

    >>> from dataclasses import dataclass, field
    >>> @dataclass
    ... class Train:
    ...     lr: float = 2e-4
    ...     iters: int = 1000
    >>> @dataclass
    ... class Run:
    ...     name: str
    ...     train: Train = field(default_factory=Train)
    >>> from_dict(Run, {"name": "a", "train": {"lr": 1}})
    Run(name='a', train=Train(lr=1.0, iters=1000))
    >>> from_dict(Run, {"name": "a", "train": {"lr_rate": 1}})
    Traceback (most recent call last):
    ...
    aioir.config.errors.ConfigError: unknown key 'train.lr_rate'; did you mean 'train.lr'?
    """
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"from_dict needs a dataclass type, got {cls!r}")
    if not isinstance(data, typing.Mapping):
        raise _fail(path, cls, data)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in fields:
            # a schema may explain keys it no longer has: ``REMOVED_KEYS = {"old": "why"}``
            removed = getattr(cls, "REMOVED_KEYS", {}).get(key)
            hint = f": {removed}" if removed else suggest(str(key), fields, prefix)
            raise ConfigError(f"unknown key '{prefix}{key}'{hint}")
    try:
        hints = typing.get_type_hints(cls)
    except Exception as err:  # unresolved forward reference in user code
        raise TypeError(f"cannot resolve the field types of {cls.__name__}: {err}") from err
    missing = [
        prefix + name
        for name, f in fields.items()
        if name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ConfigError(f"missing required key{plural}: {', '.join(missing)}")
    kwargs = {k: _convert(hints[k], v, prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{path or cls.__name__}: {err}") from err


def to_dict(obj: Any) -> Any:
    """Plain YAML-safe data (dict/list/str/int/float/bool/None) from a config object.

    Dataclasses become dicts (their ``init`` fields, in declaration order), tuples become lists, paths
    strings and enums their values, so ``from_dict(type(c), to_dict(c)) == c``.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Opt:
    ...     size: tuple[int, int] = (64, 64)
    ...     tasks: list[str] | None = None
    >>> to_dict(Opt(tasks=["noise"]))
    {'size': [64, 64], 'tasks': ['noise']}
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init
        }
    if isinstance(obj, typing.Mapping):
        return {to_dict(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return to_dict(obj.value)
    if isinstance(obj, pathlib.PurePath):
        return str(obj)
    return obj
