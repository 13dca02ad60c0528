"""Progress bars that fit their stream: every progress display of the package goes through here.

On an interactive terminal :func:`progress` is tqdm's live bar. Anywhere else (a log file, a pipe,
CI) a live bar would write one carriage-return update per step into the log, so
:class:`LineProgress` prints a plain line each time another ``every_percent`` of the total is
done, and at least every ``every_seconds`` while work goes on (a heartbeat for slow steps or an
unknown total), plus a last line when it closes.

A live bar redraws itself every ``heartbeat`` seconds (default 1) while it is open, so its
elapsed time moves while one slow item (a whole-photo forward, a worker pool starting) takes
long: the display is never still for longer than that, and its count and rate still count only
what was done. A display for a part of one item (the tiles of one image) can wait ``delay``
seconds before it shows, so fast items print nothing.

The environment variable ``AIOIR_PROGRESS`` overrides the choice: ``auto`` (default: live bar on
a terminal, lines elsewhere), ``bar`` (always the live bar), ``lines`` (always lines) or ``off``.

>>> import io
>>> out = io.StringIO()                       # not a terminal: lines, one per 25 % here
>>> bar = progress(total=8, desc="train", unit="step", file=out, every_percent=25)
>>> for _ in range(8):
...     bar.update(1)
>>> bar.close()
>>> [line.split(" [")[0] for line in out.getvalue().splitlines()]
['train:  25% 2/8', 'train:  50% 4/8', 'train:  75% 6/8', 'train: 100% 8/8']
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["progress", "LineProgress", "progress_mode", "paused", "working", "fit_postfix", "ENV",
           "MODES", "HEARTBEAT"]

#: seconds between two redraws of an open live bar that nothing updated
HEARTBEAT = 1.0

#: environment variable that overrides the display
ENV = "AIOIR_PROGRESS"
MODES = ("auto", "bar", "lines", "off")

#: the clock the line display reads (monkeypatched by tests)
_clock = time.monotonic

_FORMAT = ("{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} "
           "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")


def progress_mode(file: TextIO | None = None) -> str:
    """``"bar"``, ``"lines"`` or ``"off"`` for a display written to ``file`` (default stderr).

    >>> import io
    >>> progress_mode(io.StringIO()) in ("lines", "bar", "off")   # "lines" unless overridden
    True
    """
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        raise ValueError(f"{ENV}={value!r} is not one of {', '.join(MODES)}")
    if value != "auto":
        return value
    stream = file if file is not None else sys.stderr
    try:
        interactive = bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or exotic streams
        interactive = False
    return "bar" if interactive else "lines"


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    disable: bool = False,
    file: TextIO | None = None,
    every_percent: float = 5.0,
    every_seconds: float = 60.0,
    leave: bool = True,
    delay: float = 0.0,
    heartbeat: float | None = HEARTBEAT,
) -> Any:
    """A progress display over ``iterable`` (or updated by hand): tqdm or :class:`LineProgress`.

    Both offer ``update(n)``, ``set_postfix_str(text, refresh=...)``, ``close()``, iteration and
    ``with``. ``disable=True`` shows nothing. ``leave=False``: a live bar is erased when it
    closes (a phase shown below another bar); lines stay. ``delay``: nothing is shown before
    so many seconds have passed (a display that is not needed when the work is quick).
    ``heartbeat``: a live bar redraws itself (elapsed time) at least that often while open
    (``None``: only when updated).
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    mode = "off" if disable else progress_mode(file)
    if mode == "bar":
        _end_working()  # a step said with a clock ends where a counted display takes over
        bar = _live_bar_class()(iterable, total=total, desc=desc, unit=unit, initial=initial,
                                file=file, dynamic_ncols=True, leave=leave, delay=delay)
        if heartbeat:
            bar.start_heartbeat(heartbeat)
        return bar
    return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial,
                        file=file, every_percent=every_percent, every_seconds=every_seconds,
                        disable=mode == "off", delay=delay)


_LIVE_BAR: type | None = None


def _live_bar_class() -> type:
    """tqdm's bar with a heartbeat: a daemon thread that redraws it while it is open and not
    :func:`paused` (tqdm is imported on first use)."""
    global _LIVE_BAR
    if _LIVE_BAR is not None:
        return _LIVE_BAR
    from tqdm import tqdm

    class LiveBar(tqdm):
        _aioir_stop: threading.Event | None = None
        _aioir_paused = False

        def start_heartbeat(self, every: float) -> None:
            if self.disable:
                return
            stop = self._aioir_stop = threading.Event()

            def beat() -> None:
                while not stop.wait(every):
                    if self._aioir_paused or self.disable:
                        continue
                    now = time.time()  # tqdm's own clock (its _time is time.time)
                    if now - self.start_t < getattr(self, "delay", 0) or \
                            now - self.last_print_t < every:  # updated lately: drawn already
                        continue
                    try:
                        self.refresh()
                    except Exception:  # noqa: BLE001 - a closed stream, whatever it raises: stop beating
                        return

            threading.Thread(target=beat, name="aioir-progress-heartbeat", daemon=True).start()

        def close(self) -> None:
            if self._aioir_stop is not None:
                self._aioir_stop.set()
            super().close()

    _LIVE_BAR = LiveBar
    return LiveBar


@contextmanager
def working(desc: str, *, file: TextIO | None = None,
            heartbeat: float | None = HEARTBEAT) -> Iterator[None]:
    """Say ``desc ...`` for a step with nothing to count (loading PyTorch and a network, reading
    run folders): on a terminal its clock runs until the step ends (``desc ... 00:04``); in a
    log one line before it; nothing with ``AIOIR_PROGRESS=off``. ``file``: default stdout
    (what a command says it does goes with its other messages; errors alone go to stderr).
    A live clock stops where the next :func:`progress` display opens (building a run until
    its training bar): two live displays never share the terminal's last line.

    >>> import io
    >>> out = io.StringIO()
    >>> with working("loading net.pt", file=out):
    ...     pass
    >>> out.getvalue()
    'loading net.pt ...\\n'
    """
    file = file if file is not None else sys.stdout
    mode = progress_mode(file)
    if mode == "off":
        yield
        return
    if mode == "lines":
        stream = file
        stream.write(f"{desc} ...\n")
        stream.flush()
        yield
        return
    _end_working()
    bar = _live_bar_class()(total=None, desc=desc, file=file, dynamic_ncols=True,
                            bar_format="{desc} ... {elapsed}")
    if heartbeat:
        bar.start_heartbeat(heartbeat)
    _WORKING.append(bar)
    try:
        yield
    finally:
        bar.close()  # closing twice is harmless (tqdm)
        if bar in _WORKING:
            _WORKING.remove(bar)


#: the live clock of :func:`working`, if one runs
_WORKING: list[Any] = []


def _end_working() -> None:
    """Stop the clock of a :func:`working` step still running (its line stays)."""
    while _WORKING:
        _WORKING.pop().close()


@contextmanager
def paused(bar: Any) -> Iterator[None]:
    """The time spent inside does not count in ``bar``'s elapsed time and rate (a training bar
    while validation runs: its rate stays seconds per training step). ``bar`` may be None.

    >>> import io
    >>> bar = LineProgress(total=4, desc="x", file=io.StringIO())
    >>> before = bar.start
    >>> with paused(bar):
    ...     pass
    >>> bar.start >= before
    True
    """
    if bar is None or getattr(bar, "disable", False):
        yield
        return
    if isinstance(bar, LineProgress):
        t = _clock()
        try:
            yield
        finally:
            gap = _clock() - t
            bar.start += gap
            bar._last_time += gap
        return
    t = bar._time()  # tqdm: shift its clocks past the pause (and hold its heartbeat)
    held = getattr(bar, "_aioir_paused", False)
    bar._aioir_paused = True
    try:
        yield
    finally:
        gap = bar._time() - t
        bar.start_t += gap
        bar.last_print_t += gap
        bar._aioir_paused = held


def fit_postfix(bar: Any, variants: Sequence[str], *, min_bar: int = 10,
                columns: int | None = None) -> str:
    """The first of ``variants`` (richest first) with which ``bar``'s line fits the terminal
    with at least ``min_bar`` columns of bar left (``columns``: default the terminal's width,
    ``shutil.get_terminal_size``); the last one when none fits. A :class:`LineProgress`
    (a log: no width) takes the first.

    >>> import io
    >>> fit_postfix(LineProgress(total=4, file=io.StringIO()), ["long detail", "short"])
    'long detail'
    """
    if not variants:
        return ""
    if isinstance(bar, LineProgress) or bar is None or getattr(bar, "disable", False):
        return variants[0]
    from tqdm import tqdm

    width = columns or shutil.get_terminal_size((80, 24)).columns
    fmt = dict(bar.format_dict)
    for text in variants:
        fmt.update(postfix=text, ncols=None)  # a 10-column bar when no width is given
        line = tqdm.format_meter(**fmt)
        if len(line) - 10 + min_bar <= width:
            return text
    return variants[-1]


class LineProgress:
    """Progress for logs: one line per ``every_percent`` of ``total`` and per ``every_seconds``.

    A line reads like tqdm's (``desc:  45% 45/100 [00:10<00:12,  4.50step/s, postfix]``); with
    no total, ``desc: 45step [00:10,  4.50step/s]``.
    """

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        initial: int = 0,
        file: TextIO | None = None,
        every_percent: float = 5.0,
        every_seconds: float = 60.0,
        disable: bool = False,
        delay: float = 0.0,
    ) -> None:
        if every_percent <= 0 or every_seconds <= 0:
            raise ValueError("every_percent and every_seconds must be > 0")
        self.iterable = iterable
        self.total = total if total is None else int(total)
        self.desc = desc
        self.unit = unit
        self.n = int(initial)
        self.file = file
        self.every_percent = float(every_percent)
        self.every_seconds = float(every_seconds)
        self.disable = disable
        self.delay = float(delay)
        self.postfix = ""
        self.start = _clock()
        self._last_time = self.start
        self._last_bucket = self._bucket()
        self._printed_n: int | None = None
        self._closed = False

    def _bucket(self) -> int:
        if not self.total:
            return 0
        return math.floor(100.0 * self.n / self.total / self.every_percent + 1e-9)

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this progress display has no iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def update(self, n: int = 1) -> None:
        """Advance by ``n``; print a line when a new percent bucket or the heartbeat is due."""
        self.n += int(n)
        if self.disable or self._closed:
            return
        bucket = self._bucket()
        now = _clock()
        if bucket > self._last_bucket or now - self._last_time >= self.every_seconds:
            self._last_bucket = bucket
            self._emit(now)

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        """Text shown at the end of the next line (``refresh`` is accepted for tqdm parity)."""
        self.postfix = str(text)

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        """Change the label of the next lines."""
        self.desc = str(desc)

    def close(self) -> None:
        """Print the final line (unless the last line already showed this count)."""
        if self._closed:
            return
        self._closed = True
        if not self.disable and self._printed_n != self.n:
            self._emit(_clock())

    def line(self, now: float | None = None) -> str:
        """The text of a line for the current state."""
        from tqdm import tqdm

        elapsed = (now if now is not None else _clock()) - self.start
        postfix = self.postfix or None
        if self.total:
            return tqdm.format_meter(self.n, self.total, elapsed, prefix=self.desc,
                                     unit=self.unit, postfix=postfix, bar_format=_FORMAT)
        # total=None is tqdm's documented "no bar" (its stubs say float | int)
        return tqdm.format_meter(self.n, None, elapsed, prefix=self.desc,  # type: ignore[arg-type]
                                 unit=self.unit, postfix=postfix)

    def _emit(self, now: float) -> None:
        if now - self.start < self.delay:  # quick work: no line (the last one is not owed)
            self._last_time = now
            self._printed_n = self.n
            return
        stream = self.file if self.file is not None else sys.stderr
        stream.write(self.line(now) + "\n")
        stream.flush()
        self._last_time = now
        self._printed_n = self.n
