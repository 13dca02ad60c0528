"""Typed descriptions of a degradation task and of its parameters.

A :class:`Param` says how one parameter is drawn (its in- and out-of-distribution ranges) and
which fixed values are sensible (its domain); a :class:`TaskSpec` binds a task name and default
id to a degradation function and its parameters.

>>> import numpy as np
>>> p = Param("sigma", "round", (15, 50), (50, 70), domain=(0, 255))
>>> v = p.draw(np.random.default_rng(0), "in")
>>> isinstance(v, int) and 15 <= v <= 50
True
>>> p.check(300)
Traceback (most recent call last):
...
ValueError: sigma=300 is outside its domain [0, 255]
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Kind = Literal["uniform", "round", "integers", "choice", "option"]
Dist = Literal["in", "out"]
DISTS = ("in", "out")


def suggest(name: str, known: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known``, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Param:
    """One parameter of a degradation and how it is drawn.

    Attributes:
        name: keyword of the degradation function.
        kind: ``"uniform"`` float ``U(lo, hi)`` rounded to ``decimals``; ``"round"`` integer
            ``round(U(lo, hi))`` (how MiOIR draws noise levels and JPEG qualities);
            ``"integers"`` integer uniform on ``lo..hi`` inclusive; ``"choice"`` one of the listed
            values; ``"option"`` a setting that is never drawn (``in_range`` holds its default).
        in_range / out_range: ``(lo, hi)`` for numeric kinds, the tuple of values for
            ``"choice"``, ``(default,)`` for ``"option"``.
        domain: inclusive ``(lo, hi)`` a fixed value must lie in (``None``: no bound check).
        dtype: ``"float"``, ``"int"`` or ``"bool"``: the type a fixed value is converted to.
        odd: fixed values must be odd integers (kernel sizes).
        decimals: rounding of ``"uniform"`` draws (MiOIR rounds its floats to 2 decimals).
        doc: one line for the docs and ``--help``.
    """

    name: str
    kind: Kind
    in_range: tuple[Any, ...]
    out_range: tuple[Any, ...] | None = None
    domain: tuple[float, float] | None = None
    dtype: Literal["float", "int", "bool"] | None = None
    odd: bool = False
    decimals: int = 2
    doc: str = ""

    def __post_init__(self) -> None:
        if self.out_range is None:
            object.__setattr__(self, "out_range", self.in_range)
        if self.dtype is None:
            dtype = "float" if self.kind == "uniform" else "int"
            if self.kind in ("choice", "option"):
                first = self.in_range[0]
                dtype = "bool" if isinstance(first, bool) else "int" if isinstance(first, int) else "float"
            object.__setattr__(self, "dtype", dtype)

    def range(self, dist: str) -> tuple[Any, ...]:
        """The ``(lo, hi)`` or values drawn from for ``dist`` (``"in"`` or ``"out"``)."""
        return self.in_range if dist == "in" else self.out_range  # type: ignore[return-value]

    def draw(self, rng: np.random.Generator, dist: str) -> Any:
        """Draw one value (a plain Python number); single-valued ranges consume no randomness."""
        r = self.range(dist)
        if self.kind == "option":
            return r[0]
        if self.kind == "choice":
            return r[0] if len(r) == 1 else r[int(rng.integers(len(r)))]
        lo, hi = r
        if lo == hi:
            return self.check(lo)
        if self.kind == "uniform":
            return round(float(rng.uniform(lo, hi)), self.decimals)
        if self.kind == "round":
            return round(float(rng.uniform(lo, hi)))
        return int(rng.integers(lo, hi, endpoint=True))

    def check(self, value: Any) -> Any:
        """Convert a fixed ``value`` to this parameter's type and check its domain."""
        if self.dtype == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise ValueError(f"{self.name} must be true or false, got {value!r}")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{self.name} must be a number, got {value!r}")
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(f"{self.name} must be finite, got {value!r}")
        if self.dtype == "int":
            if x != int(x):
                raise ValueError(f"{self.name} must be an integer, got {value!r}")
            x = int(x)
        elif isinstance(value, (int, np.integer)):
            x = int(value)  # an integer given for a float parameter stays an integer
        if self.domain is not None and not (self.domain[0] <= x <= self.domain[1]):
            lo, hi = self.domain
            raise ValueError(f"{self.name}={value!r} is outside its domain [{lo:g}, {hi:g}]")
        if self.odd and int(x) % 2 != 1:
            raise ValueError(f"{self.name} must be an odd integer, got {value!r}")
        return x

    def parse(self, text: str) -> Any:
        """Parse a command-line string into a checked value (``"25"``, ``"2.5"``, ``"true"``)."""
        t = text.strip()
        if self.dtype == "bool":
            low = t.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{self.name} must be true or false, got {text!r}")
        try:
            value: Any = int(t) if t.lstrip("+-").isdigit() else float(t)
        except ValueError:
            raise ValueError(f"{self.name} must be a number, got {text!r}") from None
        return self.check(value)


@dataclass(frozen=True)
class TaskSpec:
    """A named degradation task: default id, parameters and the function that applies it.

    ``fn(img, rng, **params)`` is the pure degradation; ``arrays`` names extra array inputs the
    function accepts and that are passed through untouched (haze's ``depth``), ``inputs``
    extra scalar inputs (haze's ``depth_scale``). ``context(params)`` says how much of the image
    one output pixel depends
    on: ``(margin, grid)`` (the result in a window equals the whole image's when the window is
    grown by ``margin`` pixels and snapped to multiples of ``grid`` from the image's corner), or
    ``None`` when it depends on the whole image (rain's min-max normalisation). Training
    crops use it to degrade as much of the image as MiOIR's full-image synthesis needs
    (:mod:`aioir.data.synthetic`).
    """

    name: str
    id: int
    description: str
    params: tuple[Param, ...]
    fn: Callable[..., np.ndarray]
    arrays: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    reference: str = ""
    context: Callable[[dict[str, Any]], tuple[int, int] | None] = field(
        default=lambda params: (0, 1), compare=False, repr=False)
    notes: str = field(default="", compare=False)
    #: ``window_fn(img, rng, window, **params) == fn(img, rng, **params)[y0:y1, x0:x1]`` bit for
    #: bit, with the same draws, for a task whose output depends on the whole image (rain):
    #: what a training crop needs, without the per-pixel work outside the crop
    window_fn: Callable[..., np.ndarray] | None = field(default=None, compare=False, repr=False)

    @property
    def param_names(self) -> list[str]:
        """Names of the parameters, in drawing order."""
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        """The :class:`Param` called ``name``; ``ValueError`` with a suggestion otherwise."""
        for p in self.params:
            if p.name == name:
                return p
        known = self.param_names + list(self.arrays) + list(self.inputs)
        raise ValueError(
            f"task {self.name!r} has no parameter {name!r}{suggest(name, known)} "
            f"Parameters: {', '.join(known) or '(none)'}"
        )

    def ranges(self, dist: str = "in") -> dict[str, tuple[Any, ...]]:
        """``{param: range}`` for ``dist``."""
        check_dist(dist)
        return {p.name: p.range(dist) for p in self.params}


def check_dist(dist: str) -> None:
    """Raise ``ValueError`` unless ``dist`` is ``"in"`` or ``"out"``."""
    if dist not in DISTS:
        raise ValueError(f"dist must be 'in' or 'out', got {dist!r}{suggest(str(dist), DISTS)}")
