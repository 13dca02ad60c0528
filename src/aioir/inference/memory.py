"""Memory budgets for inference: measure a network's activation memory, plan tiles to fit.

``aioir restore --max-memory 1.5G`` must restore an image of any size without allocating more
than it was given. Three parts:

* :func:`measure_peak_bytes` runs one forward and returns the peak of the memory it allocated:
  on CUDA the caching allocator's own counter, elsewhere :class:`LiveTensorBytes`, which follows
  every tensor an operator returns (through a ``TorchDispatchMode``) until it is freed. What it
  cannot see, the planner adds: tensors that live only inside an operator (oneDNN reorders and
  scratch space) and the memory glibc keeps after a free to reuse it (tensors under its 32 MiB
  mmap threshold come from the heap, which fragments). Measured on CPU for the demo network,
  peak RSS of the activations / tracked peak is 1.3 - 1.6 for 1200-px windows, 2.5 - 2.9 for
  256-400 px ones, plus 15 - 20 MiB whatever the size; NAFNet 3.3 - 3.8 and SRResNet 4.0
  (``docs/benchmarks.md``). The planner counts :func:`resident` (4 times the tracked peak
  for small forwards, falling to 2.5 times for large ones) plus :data:`SLACK`.
* :func:`calibrate` measures three small square forwards (128, 256 and 384 px: multiples of
  every backbone's padding step; fewer when the budget could not hold the next one) and fits
  ``bytes(P) = a + b P + c P^2`` over the pixel count ``P`` (attention over all positions, as in
  TransWeather's first stages, grows with ``P^2``).
* :func:`plan_tiles` picks the window grid that runs the fewest pixels through the network
  (few windows, each no wider than needed: :func:`~aioir.models.tiling.even_tile`) under the
  budget left once the image buffers are paid for, and batches as many windows of a row per
  forward as still fit. An image that fits is restored whole, exactly.

>>> cost = ActivationCost(constant=0.0, per_pixel=500.0, quadratic=0.0)
>>> plan = plan_tiles(3000, 4000, cost=cost, budget=2 * 2**30, fixed=0, overlap=32)
>>> plan.whole, plan.windows, plan.tile_h, plan.tile_w
(False, 8, 1516, 1024)
>>> parse_memory("1.5G") == int(1.5 * 2**30)
True
"""

from __future__ import annotations

import math
import os
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from aioir.models.tiling import TilePlan, even_tile

#: factor applied to a small forward's measured peak for what the measurement cannot see
OVERHEAD = 4.0
#: factor for a forward whose tracked peak reaches :data:`OVERHEAD_FADE` bytes (see resident())
OVERHEAD_LARGE = 2.5
OVERHEAD_FADE = 512 * 2**20


def resident(tracked: float) -> float:
    """Resident bytes allowed for a forward whose tracked peak is ``tracked`` (before
    :data:`SLACK`): ``OVERHEAD`` times it for small forwards, the factor falling linearly to
    ``OVERHEAD_LARGE`` at ``OVERHEAD_FADE`` and staying there. Small tensors come from glibc's
    heap, which fragments (NAFNet: 3.3 - 3.8 x, SRResNet 4.0 x at 256 px windows); tensors over
    its mmap threshold are returned to the system when freed (the demo network's 1200 px windows:
    1.3 x). Monotone in ``tracked``, so a larger window never looks cheaper.

    >>> round(resident(100.0) / 100.0, 6), resident(OVERHEAD_FADE) / OVERHEAD_FADE
    (4.0, 2.5)
    >>> round(resident(OVERHEAD_FADE / 2) / (OVERHEAD_FADE / 2), 2)
    3.25
    """
    fade = min(max(tracked, 0.0) / OVERHEAD_FADE, 1.0)
    return tracked * (OVERHEAD - (OVERHEAD - OVERHEAD_LARGE) * fade)
#: memory a forward takes regardless of its size beyond its tensors (oneDNN scratch space,
#: thread buffers; about 15-20 MiB measured with 128-px windows)
SLACK = 32 * 2**20
#: default working-memory budget on CPU (and at most half the memory available)
DEFAULT_CPU_BUDGET = int(1.5 * 2**30)
#: fraction of the free device memory used by default on CUDA
DEFAULT_CUDA_FRACTION = 0.8
#: square sizes of the calibration forwards (multiples of every backbone's padding step)
CALIBRATION_SIZES = (128, 256, 384)
#: smallest window side the planner uses (besides the overlap)
MIN_TILE = 64

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_memory(text: str | int) -> int:
    """``"1.5G"``, ``"800M"``, ``"2GiB"``, ``"512MB"`` or a byte count -> bytes (powers of 1024).

    >>> parse_memory("800M"), parse_memory(1024)
    (838860800, 1024)
    """
    if isinstance(text, int):
        value = text
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", str(text).upper())
        if m is None:
            raise ValueError(f"cannot read memory size {text!r}: use e.g. 1.5G, 800M, 2GiB")
        value = int(float(m.group(1)) * _UNITS[m.group(2)])
    if value <= 0:
        raise ValueError(f"a memory budget must be positive, got {text!r}")
    return value


def format_bytes(n: float) -> str:
    """``1610612736`` -> ``'1.50 GiB'``.

    >>> format_bytes(3 * 2**20)
    '3.0 MiB'
    """
    if n >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    return f"{n / 2**20:.1f} MiB"


def available_memory() -> int | None:
    """Memory the system can still give (``MemAvailable`` on Linux), None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def default_budget(device: torch.device) -> int:
    """The budget ``--max-memory auto`` means on ``device``.

    CPU: :data:`DEFAULT_CPU_BUDGET` or half of the available memory if that is less. CUDA:
    :data:`DEFAULT_CUDA_FRACTION` of the free device memory.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * DEFAULT_CUDA_FRACTION)
    avail = available_memory()
    return DEFAULT_CPU_BUDGET if avail is None else min(DEFAULT_CPU_BUDGET, avail // 2)


def _tensors(tree: Any) -> list[torch.Tensor]:
    """The tensors in nested tuples, lists and dicts."""
    if isinstance(tree, torch.Tensor):
        return [tree]
    if isinstance(tree, (tuple, list)):
        return [t for item in tree for t in _tensors(item)]
    if isinstance(tree, dict):
        return [t for item in tree.values() for t in _tensors(item)]
    return []


class LiveTensorBytes:
    """Peak bytes of the tensors created inside a ``with`` block and still alive at each moment.

    Counts each new storage an operator returns once, until the last tensor viewing it is
    freed; views of (and in-place writes to) tensors made before the block, such as the input
    and the weights, add nothing.

    >>> with LiveTensorBytes() as m:
    ...     a = torch.zeros(1000)          # 4000 bytes
    ...     b = a * 2                      # 8000 live
    ...     del a
    ...     c = b + 1                      # 8000 live again, never more
    >>> m.peak
    8000
    """

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        tracker = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                                   kwargs: Any = None) -> Any:
                out = func(*args, **(kwargs or {}))
                given = {t.untyped_storage().data_ptr()
                         for t in _tensors((args, kwargs or {}))}
                for t in _tensors(out):
                    tracker._add(t, given)
                return out

        self._mode = _Mode()
        self.live = 0
        self.peak = 0
        self._storages: dict[int, list[int]] = {}  # data_ptr -> [nbytes, tensors alive]
        self._refs: dict[int, weakref.ref] = {}  # keeps the callbacks alive

    def _add(self, t: torch.Tensor, given: set[int]) -> None:
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key == 0:
            return
        entry = self._storages.get(key)
        if entry is None and key in given:  # a view of (or in-place on) a tensor made before
            return
        if entry is None:
            self._storages[key] = [storage.nbytes(), 1]
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
        else:
            entry[1] += 1

        def release(ref: weakref.ref, key: int = key) -> None:
            self._refs.pop(id(ref), None)
            e = self._storages.get(key)
            if e is not None:
                e[1] -= 1
                if e[1] == 0:
                    del self._storages[key]
                    self.live -= e[0]

        ref = weakref.ref(t, release)
        self._refs[id(ref)] = ref

    def __enter__(self) -> LiveTensorBytes:
        self._mode.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._mode.__exit__(*exc)


@torch.no_grad()
def measure_peak_bytes(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int:
    """Peak bytes allocated while ``fn(x)`` runs (its output included, ``x`` not)."""
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
        before = torch.cuda.memory_allocated(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        y = fn(x)
        torch.cuda.synchronize(x.device)
        del y
        return int(torch.cuda.max_memory_allocated(x.device) - before)
    with LiveTensorBytes() as m:
        y = fn(x)
        del y
    return m.peak


@dataclass(frozen=True)
class ActivationCost:
    """Peak bytes of one forward of ``P`` pixels (batch x height x width), before overhead.

    >>> ActivationCost(100.0, 2.0, 0.0).bytes(50)
    200.0
    """

    constant: float
    per_pixel: float
    quadratic: float = 0.0
    #: calibration forwards the fit rests on (3 unless a budget stopped it earlier)
    points: int = 3

    def bytes(self, pixels: float) -> float:
        return self.constant + self.per_pixel * pixels + self.quadratic * pixels * pixels


def calibrate(
    fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    channels: int = 3,
    device: torch.device | str = "cpu",
    sizes: tuple[int, ...] = CALIBRATION_SIZES,
    budget: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ActivationCost:
    """Fit :class:`ActivationCost` to the measured peaks of ``fn`` on square inputs of ``sizes``
    (``progress(1)`` after each).

    With three points, the quadratic through them is kept when its ``P^2`` term is positive;
    otherwise (memory linear in the pixels, the usual case) the line through the two larger
    sizes. With ``budget``, a size whose forward the points so far predict to exceed it (with
    :func:`resident` and :data:`SLACK`) is not run: the fit then uses fewer points (two: a line;
    one: proportional).
    """
    gen = torch.Generator().manual_seed(0)
    pts: list[tuple[float, float]] = []
    for s in sizes:
        p = float(s * s)
        if budget is not None and pts:
            per = max(b / q for q, b in pts)
            if resident(per * p) + SLACK > budget:
                break
        x = torch.rand(1, channels, s, s, generator=gen).to(device)
        pts.append((p, float(measure_peak_bytes(fn, x))))
        del x
        if progress is not None:
            progress(1)
    if len(pts) == 1:
        return ActivationCost(0.0, pts[0][1] / pts[0][0], 0.0, points=1)
    if len(pts) == 2:
        (p1, b1), (p2, b2) = pts
        slope = max((b2 - b1) / (p2 - p1), 0.0)
        return ActivationCost(b2 - slope * p2, slope, 0.0, points=2)
    (p1, b1), (p2, b2), (p3, b3) = pts[:3]
    # divided differences
    d12 = (b2 - b1) / (p2 - p1)
    d23 = (b3 - b2) / (p3 - p2)
    c = (d23 - d12) / (p3 - p1)
    if c > 0:
        b = d12 - c * (p1 + p2)
        a = b1 - b * p1 - c * p1 * p1
        return ActivationCost(a, b, c)
    return ActivationCost(b2 - d23 * p2, max(d23, 0.0), 0.0)


def band_bytes(tile_h: int, width: int, channels_out: int, overlap: int = 0) -> int:
    """Host memory of :func:`~aioir.models.tiling.blend_rows`' row accumulator and of the
    overlap it carries to the next row (float32)."""
    return 4 * channels_out * (tile_h + overlap) * width


def window_bytes(tile_h: int, tile_w: int, batch: int, channels: int, channels_out: int) -> int:
    """The stacked input batch and the weighted copy of one output window (float32)."""
    return 4 * (batch * channels + channels_out) * tile_h * tile_w


def window_cost(cost: ActivationCost, th: int, tw: int, *, width: int, batch: int = 1,
                channels: int = 3, channels_out: int = 3, overlap: int = 0) -> float:
    """Bytes that running ``batch`` windows of ``th x tw`` on an image ``width`` wide takes
    besides the image buffers: activations (:func:`resident` and :data:`SLACK`), accumulator,
    window copies."""
    return (resident(cost.bytes(batch * th * tw)) + SLACK
            + band_bytes(th, width, channels_out, overlap)
            + window_bytes(th, tw, batch, channels, channels_out))


class BudgetError(ValueError):
    """The image cannot be restored within the memory budget; the message says what it needs."""


def plan_tiles(
    height: int,
    width: int,
    *,
    cost: ActivationCost,
    budget: int,
    fixed: int,
    overlap: int = 32,
    tile: int | None = None,
    channels: int = 3,
    channels_out: int = 3,
    max_batch: int = 16,
) -> TilePlan:
    """The window grid for an ``height x width`` image under ``budget`` bytes.

    ``fixed``: bytes already committed while the windows run (the image buffers). With ``tile``
    the windows are ``tile x tile`` (the user's choice) and only the batch is planned.
    Raises :class:`BudgetError` when not even one smallest window fits.
    """
    room = budget - fixed

    def need(th: int, tw: int, b: int) -> float:
        return window_cost(cost, th, tw, width=width, batch=b, channels=channels,
                           channels_out=channels_out, overlap=overlap)

    if tile is not None:
        plan = TilePlan.square(height, width, tile, overlap)
        th, tw = plan.tile_h, plan.tile_w
        if need(th, tw, 1) > room:
            raise BudgetError(
                f"a {th} x {tw} window needs about {format_bytes(need(th, tw, 1))} and the "
                f"budget leaves {format_bytes(max(room, 0))} after the image buffers "
                f"({format_bytes(fixed)}); use a smaller --tile or a larger --max-memory"
            )
    else:
        smallest = max(MIN_TILE, 2 * overlap + 1)
        most = lambda size: max(1, math.ceil(size / max(smallest - overlap, 1)))
        best: tuple[int, int, int, int] | None = None  # (processed pixels, windows, th, tw)
        for ny in range(1, most(height) + 1):
            th = even_tile(height, ny, overlap)
            if ny > 1 and th < smallest:
                break
            # the fewest columns that fit (the cost falls as the columns narrow): bisection
            lo, hi = 1, most(width)
            while hi > 1 and even_tile(width, hi, overlap) < smallest:
                hi -= 1
            if need(th, even_tile(width, hi, overlap), 1) > room:
                continue
            while lo < hi:
                mid = (lo + hi) // 2
                if need(th, even_tile(width, mid, overlap), 1) <= room:
                    hi = mid
                else:
                    lo = mid + 1
            tw = even_tile(width, lo, overlap)
            key = (ny * lo * th * tw, ny * lo, th, tw)
            if best is None or key < best:
                best = key
        if best is None:
            th = tw = min(smallest, height, width)
            raise BudgetError(
                f"{height} x {width} needs {format_bytes(fixed)} for the image buffers plus "
                f"about {format_bytes(need(th, tw, 1))} for the smallest window, over the "
                f"budget of {format_bytes(budget)}; raise --max-memory"
            )
        _, _, th, tw = best
        plan = TilePlan(height, width, tile_h=th, tile_w=tw, overlap=overlap if best[1] > 1 else 0)
    per_row = len(plan.cols)
    batch = 1
    while batch < min(max_batch, per_row) and need(plan.tile_h, plan.tile_w, batch + 1) <= room:
        batch += 1
    return TilePlan(height, width, plan.tile_h, plan.tile_w, plan.overlap, batch)
