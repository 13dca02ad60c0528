"""Images for the report: a run's restorations of its validation images, its uncertainty maps.

Networks are rebuilt from a run's latest checkpoint with :func:`aioir.inference.reader.load_network`
(the EMA weights when the run evaluated them, ``val.use_ema``). Uncertainty maps need the live
weights instead: TUR/UE's head was trained on the features of the live network (the EMA copy
carries no hook), so :func:`uncertainty_maps` rebuilds the live backbone and the strategy, loads
the strategy's state (its uncertainty head) from the checkpoint, runs the backbone with the
strategy's hook attached and reads the map the head predicts from the tapped feature. A map has
the head's 3 channels; the report shows and counts their mean per pixel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aioir import strategies
from aioir.checkpoint import load_checkpoint
from aioir.engine.evaluation import restore_for
from aioir.inference.reader import load_network
from aioir.inference.uncertainty import head_border
from aioir.models.hooks import hooks
from aioir.models.restore import restore_image
from aioir.strategies.uem import UncertaintyStrategy

from .runs import Run
from .samples import Sample

__all__ = [
    "Restorations",
    "one_per_task",
    "restore_run",
    "has_uncertainty_head",
    "uncertainty_maps",
    "zoom_window",
]


def one_per_task(samples: Sequence[Sample], tasks: Sequence[str]) -> list[Sample]:
    """One sample of every task, in ``tasks`` order, the images taken in turn: task ``i`` shows
    its ``(i mod n)``-th sample (of its ``n``), so the rows of a grid show different images.
    Tasks without a sample are left out.

    >>> import numpy as np
    >>> z = np.zeros((2, 2, 3))
    >>> samples = [(z, z, t, f"{t}{j}") for t in "abc" for j in range(2)]
    >>> [s[3] for s in one_per_task(samples, ["a", "b", "c", "d"])]
    ['a0', 'b1', 'c0']
    """
    by_task: dict[str, list[Sample]] = {}
    for s in samples:
        by_task.setdefault(s[2], []).append(s)
    return [by_task[t][i % len(by_task[t])] for i, t in enumerate(tasks) if t in by_task]


def _checkpoint(run: Run) -> Path:
    if run.checkpoint is None:
        raise FileNotFoundError(f"{run.path} has no checkpoint (checkpoints/step_*.pt)")
    return run.checkpoint


def restore_run(run: Run, samples: Sequence[Sample],
                on_image: Callable[[], Any] | None = None) -> list[np.ndarray]:
    """``run``'s network (as it was evaluated) applied to each sample's degraded image (a
    network that needs its task, the diffusion wrapper, restores each sample as its task's:
    the sample's column). ``on_image()`` is called after each image (a progress display)."""
    use_ema = bool((run.config.get("val") or {}).get("use_ema", True))
    model, _ = load_network(_checkpoint(run), use_ema=use_ema)
    task_context = hooks(model).task_context

    def restore(img: np.ndarray) -> np.ndarray:
        return restore_image(model, img, device="cpu")

    outputs = []
    for lq, _, task, _ in samples:
        outputs.append(restore_for(restore, task_context, task)(lq))
        if on_image is not None:
            on_image()
    return outputs


def _build_strategy(run: Run, num_tasks: int) -> strategies.Strategy:
    spec = run.config.get("strategy") or {}
    return strategies.build(str(spec.get("name")), num_tasks=num_tasks,
                            **(spec.get("options") or {}))


def has_uncertainty_head(run: Run) -> bool:
    """Whether ``run``'s strategy predicts uncertainty maps (TUR, UE, ...)."""
    return isinstance(_build_strategy(run, max(len(run.tasks), 1)), UncertaintyStrategy)


def uncertainty_maps(
    run: Run, samples: Sequence[Sample], on_image: Callable[[], Any] | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Per-pixel uncertainty (H x W, mean over the head's channels) of each sample's degraded
    image, from the head stored in ``run``'s latest checkpoint, the live network's restoration
    of it (H x W x 3, not clipped) that the map goes with, and the head's border
    (:func:`aioir.inference.uncertainty.head_border`: the pixels at each side computed from
    the head's zero padding, which the figures leave out)."""
    from contextlib import nullcontext

    import torch

    path = _checkpoint(run)
    model, meta = load_network(path, use_ema=False)
    task_context = hooks(model).task_context or (lambda task: nullcontext())
    with torch.random.fork_rng(devices=[]):  # attach() draws a fresh head: keep the RNG as is
        strategy = _build_strategy(run, len(meta["tasks"]))
        if not isinstance(strategy, UncertaintyStrategy):
            raise ValueError(f"{run.path}: strategy {run.strategy!r} has no uncertainty head")
        strategy.attach(model)
    maps, preds = [], []
    try:
        strategy.load_state_dict(load_checkpoint(path)["strategy"])
        for p in [*model.parameters(), *strategy.parameters()]:
            p.requires_grad_(False)
        strategy.eval()
        for lq, _, task, _ in samples:
            x = torch.from_numpy(np.array(lq, dtype=np.float32)).permute(2, 0, 1)[None]
            # the hook captures the tapped feature only under autograd
            with torch.enable_grad(), task_context(task):
                pred = model(x)
                u = strategy.uncertainty(pred)
            maps.append(u[0].mean(0).detach().cpu().numpy().astype(np.float64))
            preds.append(pred[0].permute(1, 2, 0).detach().cpu().numpy())
            if on_image is not None:
                on_image()
        assert strategy.uem is not None  # attach() made the head
        border = head_border(strategy.uem)
    finally:
        strategy.detach()
    return maps, preds, border


def zoom_window(gt: np.ndarray, size: int | None = None) -> tuple[int, int, int]:
    """``(top, left, size)`` of the square window with the most detail (sum of squared
    gradients of the ground truth), searched on a half-window grid.

    >>> img = np.zeros((64, 64, 3)); img[40:48, 8:16] = 1.0
    >>> zoom_window(img, 16)
    (40, 8, 16)
    """
    h, w = gt.shape[:2]
    size = size or max(8, min(h, w) // 4)
    size = min(size, h, w)
    gray = np.asarray(gt, dtype=np.float64).mean(axis=2)
    energy = np.zeros_like(gray)
    energy[:, 1:] += np.diff(gray, axis=1) ** 2
    energy[1:, :] += np.diff(gray, axis=0) ** 2
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(size // 2, 1)
    best = (-1.0, 0, 0)
    for top in range(0, h - size + 1, step):
        for left in range(0, w - size + 1, step):
            total = (integral[top + size, left + size] - integral[top, left + size]
                     - integral[top + size, left] + integral[top, left])
            if total > best[0]:
                best = (float(total), top, left)
    return best[1], best[2], size


@dataclass
class Restorations:
    """One sample per task, restored by each group's first run, with per-image PSNR."""

    samples: list[Sample]
    outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    psnr: dict[str, list[float]] = field(default_factory=dict)
    input_psnr: list[float] = field(default_factory=list)
    windows: list[tuple[int, int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the image names, tasks and every PSNR shown in the captions."""
        return {
            "images": [{"task": s[2], "name": s[3]} for s in self.samples],
            "input_psnr": self.input_psnr,
            "psnr": self.psnr,
            "zoom": [list(w) for w in self.windows],
        }
