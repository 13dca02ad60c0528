"""Per-task evaluation of a restoration function over (lq, gt, task, name) samples."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aioir.progress import progress as progress_bar

from .perceptual import lpips_distance
from .protocol import Protocol, get_protocol
from .psnr import psnr
from .ssim import ssim

__all__ = ["ImageRecord", "EvalResult", "evaluate_pairs"]

RestoreFn = Callable[[np.ndarray], np.ndarray]
Sample = tuple[np.ndarray, np.ndarray, str, str]


@dataclass
class ImageRecord:
    """Metrics of one restored image (``input_*``: of the degraded input, when measured)."""

    task: str
    name: str
    psnr: float
    ssim: float
    lpips: float | None = None
    input_psnr: float | None = None
    input_ssim: float | None = None
    input_lpips: float | None = None


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


@dataclass
class EvalResult:
    """Per-image records of one evaluation, with per-task means.

    Task means average the images of a task; ``average`` averages the task means (each task
    counts once, whatever its number of images), as the all-in-one papers report. A task with
    an identical restoration has PSNR ``inf`` and so has its mean.
    """

    protocol: Protocol
    task_names: list[str]
    records: list[ImageRecord] = field(default_factory=list)

    def _metric_keys(self, which: str) -> list[str]:
        if which not in ("output", "input"):
            raise ValueError(f"which must be 'output' or 'input', got {which!r}")
        prefix = "" if which == "output" else "input_"
        keys = ["psnr", "ssim"] + (["lpips"] if self.protocol.lpips else [])
        if which == "input" and any(r.input_psnr is None for r in self.records):
            raise ValueError("degraded inputs were not measured (evaluate with measure_input=True)")
        return [prefix + k for k in keys]

    def per_task(self, which: str = "output") -> dict[str, dict[str, float]]:
        """``{task: {"psnr", "ssim"[, "lpips"], "count"}}`` for tasks with images, in task order.

        ``which="input"`` gives the same for the degraded inputs (a "degraded input" table row).
        """
        keys = self._metric_keys(which)
        out: dict[str, dict[str, float]] = {}
        for task in self.task_names:
            recs = [r for r in self.records if r.task == task]
            if not recs:
                continue
            row = {k.removeprefix("input_"): _mean([getattr(r, k) for r in recs]) for k in keys}
            row["count"] = len(recs)
            out[task] = row
        return out

    def average(self, which: str = "output") -> dict[str, float]:
        """Mean over tasks of the per-task means (``count`` = number of tasks averaged)."""
        tasks = self.per_task(which)
        keys = [k.removeprefix("input_") for k in self._metric_keys(which)]
        avg = {k: _mean([row[k] for row in tasks.values()]) for k in keys}
        avg["count"] = len(tasks)
        return avg

    def to_dict(self) -> dict[str, Any]:
        """Plain data: protocol, task names, per-task means, average and per-image records."""
        out: dict[str, Any] = {
            "protocol": self.protocol.to_dict(),
            "protocol_description": self.protocol.describe(),
            "task_names": list(self.task_names),
            "per_task": self.per_task(),
            "average": self.average(),
            "records": [asdict(r) for r in self.records],
        }
        if self.records and self.records[0].input_psnr is not None:
            out["input_per_task"] = self.per_task("input")
            out["input_average"] = self.average("input")
        return out


def evaluate_pairs(
    restore_fn: RestoreFn,
    samples: Iterable[Sample],
    protocol: Protocol | str,
    task_names: Sequence[str] | None = None,
    *,
    progress: bool = True,
    measure_input: bool = False,
    lpips_fn: Callable[..., float] | None = None,
) -> EvalResult:
    """Restore every sample and measure it against its ground truth under ``protocol``.

    Args:
        restore_fn: maps a degraded float HWC image in [0, 1] to its restoration (HWC numpy).
        samples: iterable of ``(lq, gt, task, name)`` with numpy HWC images.
        protocol: a :class:`Protocol` or a preset name (``"mioir"``, ``"airnet"``, ``"daclip"``).
        task_names: task order of the summaries; ``None``: order of first appearance. A sample
            whose task is not listed is an error.
        progress: show a progress display (:func:`aioir.progress.progress`).
        measure_input: also measure the degraded input against the ground truth.
        lpips_fn: ``(a, b, crop_border=..., round_uint8=...) -> float`` used when the protocol
            asks for LPIPS; default :func:`aioir.metrics.perceptual.lpips_distance`.

    >>> rng = np.random.default_rng(0)
    >>> gt = rng.random((24, 24, 3))
    >>> samples = [(gt * 0.5, gt, "dark", "a.png"), (gt, gt, "noise", "b.png")]
    >>> res = evaluate_pairs(lambda x: x, samples, "mioir", progress=False)
    >>> res.task_names, res.per_task()["noise"]["psnr"], res.per_task()["dark"]["count"]
    (['dark', 'noise'], inf, 1)
    """
    proto = get_protocol(protocol)
    options = proto.metric_options()
    ssim_options = proto.ssim_options()
    fixed = task_names is not None
    names: list[str] = list(task_names) if task_names is not None else []
    measure_lpips = lpips_fn or lpips_distance
    lpips_options: dict[str, Any] = {"crop_border": proto.crop_border,
                                     "round_uint8": proto.round_uint8}
    total = len(samples) if hasattr(samples, "__len__") else None  # type: ignore[arg-type]
    records: list[ImageRecord] = []
    bar = progress_bar(samples, total=total, disable=not progress, desc="eval", unit="img")
    for lq, gt, task, name in bar:
        height, width = np.shape(gt)[:2]
        if min(height, width) < proto.min_size:
            raise ValueError(f"test image {name} ({task}) is {width} x {height} px: too small "
                             f"to measure; {proto.size_requirement()}. Remove it from the test "
                             "set or use a protocol with a smaller crop")
        if task not in names:
            if fixed:
                raise ValueError(f"sample {name!r} has task {task!r}, not in task_names {names}")
            names.append(task)
        out = np.asarray(restore_fn(lq))
        rec = ImageRecord(
            task=task, name=name, psnr=psnr(out, gt, **options), ssim=ssim(out, gt, **ssim_options)
        )
        if proto.lpips:
            rec.lpips = float(measure_lpips(out, gt, **lpips_options))
        if measure_input:
            rec.input_psnr = psnr(lq, gt, **options)
            rec.input_ssim = ssim(lq, gt, **ssim_options)
            if proto.lpips:
                rec.input_lpips = float(measure_lpips(lq, gt, **lpips_options))
        records.append(rec)
    return EvalResult(protocol=proto, task_names=names, records=records)
