"""The validation images of a run, in ONE place.

Every figure that shows images (restoration grids, uncertainty maps) and the degraded-input row
of the tables get their images through :func:`validation_samples`; when the way runs build their
data changes, this function is the one to re-point.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aioir.progress import progress as progress_bar
from aioir.settings.assemble import validation_sets

__all__ = ["Sample", "validation_samples"]

#: ``(lq, gt, task, name)``: float32 HWC RGB images in [0, 1], the task and the image's name
Sample = tuple[np.ndarray, np.ndarray, str, str]


def validation_samples(cfg: Any, tasks: list[str], progress: bool = False
                       ) -> list[Sample] | None:
    """The validation samples of the run configured by ``cfg`` (a ``RunConfig``), exactly the
    images the trainer validates on (:func:`aioir.settings.assemble.validation_sets`), restricted to
    ``tasks``; ``None`` when the run has none (``val.enabled: false``, or a benchmark setting
    whose test sets are not under ``data.root``). ``progress``: one display step per test set
    (degrading the images takes seconds).

    >>> from aioir.config.schema import RunConfig
    >>> cfg = RunConfig(); cfg.data.tasks = ["noise"]; cfg.val.max_size = 32
    >>> lq, gt, task, name = validation_samples(cfg, ["noise"])[0]
    >>> lq.shape == gt.shape, task
    (True, 'noise')
    """
    sets, _notes = validation_sets(cfg)
    samples = [item for ts in progress_bar(sets, desc="report: validation images",
                                           unit="set", disable=not progress)
               for item in ts if item[2] in tasks]
    return samples or None
