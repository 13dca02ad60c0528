"""A tiny name -> factory registry used for backbones and strategies.

A new backbone or strategy is one new module plus one ``@REGISTRY.register("name")`` line; the
engine and the CLI only ever look components up by name.

>>> reg = Registry("widgets")
>>> @reg.register("double")
... def double(x: int) -> int:
...     return 2 * x
>>> reg.build("double", x=21)
42
>>> reg.get("dubble")
Traceback (most recent call last):
...
KeyError: "unknown widgets 'dubble'; did you mean 'double'? Known: double"
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any


class Registry:
    """Maps names to factories (classes or functions).

    ``package`` names a package whose public submodules are imported the first time the registry
    is queried, so a new component is one new module there (nothing to list) and ``import aioir``
    stays cheap. Submodules must import optional heavy dependencies lazily.
    """

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., Any]] = {}
        self._package = package
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering ``factory`` under ``name`` (names are unique)."""

        def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return deco

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            if self._package is not None:
                pkg = importlib.import_module(self._package)
                for info in pkgutil.iter_modules(pkg.__path__):
                    if not info.name.startswith("_"):
                        importlib.import_module(f"{self._package}.{info.name}")

    def names(self) -> list[str]:
        """Sorted list of registered names."""
        self._load()
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., Any]:
        """The factory registered as ``name``; a clear error with a suggestion otherwise."""
        self._load()
        if name not in self._factories:
            close = difflib.get_close_matches(name, list(self._factories), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise KeyError(
                f"unknown {self.kind} {name!r}{hint} Known: {', '.join(sorted(self._factories))}"
            )
        return self._factories[name]

    def build(self, name: str, **options: Any) -> Any:
        """Call the factory registered as ``name`` with ``options``."""
        return self.get(name)(**options)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._factories
