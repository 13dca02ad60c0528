"""Degradations: pure functions ``(img HWC float32 [0, 1], rng, **params) -> img`` and named tasks.

One module per degradation (``sr``, ``blur``, ``noise``, ``jpeg``, ``rain``, ``haze``, ``dark``;
the function has the module's name: ``from aioir.degradations.blur import blur``), a catalogue
:data:`TASKS` of named tasks with default ids and in/out-of-distribution parameter ranges, and
:func:`apply`, which draws a task's parameters and degrades an image. The functions are not
re-exported here, so ``aioir.degradations.blur`` stays the module.

>>> import numpy as np
>>> from aioir import degradations
>>> img = np.full((5, 7, 3), 0.5, np.float32)
>>> out, params = degradations.apply("dark", img, np.random.default_rng(0), gamma=2.0)
>>> params, float(out[0, 0, 0])
({'gamma': 2.0}, 0.25)
"""

from aioir.degradations._image import check_image, quantize, to_uint8
from aioir.degradations.api import apply, draw_params
from aioir.degradations.catalogue import DENOISE_TASKS, MIOIR_TASKS, TASKS, get_task, task_ids
from aioir.degradations.depth import pseudo_depth
from aioir.degradations.spec import Param, TaskSpec

__all__ = [
    "DENOISE_TASKS", "MIOIR_TASKS", "TASKS", "Param", "TaskSpec", "apply", "check_image",
    "draw_params", "get_task", "pseudo_depth", "quantize", "task_ids", "to_uint8",
]
