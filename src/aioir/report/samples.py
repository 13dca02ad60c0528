"""The validation images of a run, in ONE place.

Every figure that shows images (restoration grids, uncertainty maps) and the degraded-input row
of the tables get their images through :func:`validation_samples`; when the way runs build their
data changes, this function is the one to re-point.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Sample", "validation_samples"]

#: ``(lq, gt, task, name)``: float32 HWC RGB images in [0, 1], the task and the image's name
Sample = tuple[np.ndarray, np.ndarray, str, str]


def validation_samples(cfg: Any, tasks: list[str]) -> list[Sample] | None:
    """The validation samples of the run configured by ``cfg`` (a ``RunConfig``), degraded at
    its ``val.seed`` exactly as the trainer validates; ``None`` when the run has none (``val.source:
    none``, or a benchmark setting, which ``aioir eval --setting`` evaluates).

    >>> from aioir.config.schema import RunConfig
    >>> cfg = RunConfig(); cfg.data.tasks = ["noise"]; cfg.val.max_size = 32
    >>> lq, gt, task, name = validation_samples(cfg, ["noise"])[0]
    >>> lq.shape == gt.shape, task
    (True, 'noise')
    """
    from aioir.engine.builders import build_val_samples

    samples = build_val_samples(cfg, tasks)
    return None if samples is None else list(samples)
