"""``apply``: draw a task's parameters and degrade one image.

>>> import numpy as np
>>> img = np.full((6, 5, 3), 0.5, np.float32)
>>> out, params = apply("noise", img, np.random.default_rng(0), sigma=25)
>>> out.shape, params
((6, 5, 3), {'sigma': 25})
>>> apply("nosie", img, np.random.default_rng(0))
Traceback (most recent call last):
...
ValueError: unknown task 'nosie'; did you mean 'noise'? Known: sr, blur, noise, jpeg, rain, haze, dark, denoise_15, denoise_25, denoise_50
"""  # noqa: E501 - the doctest's expected output is one line

from __future__ import annotations

from typing import Any

import numpy as np

from aioir.degradations._image import check_image
from aioir.degradations.catalogue import get_task
from aioir.degradations.spec import check_dist


def draw_params(task: str, rng: np.random.Generator, *, dist: str = "in", **fixed: Any) -> dict[str, Any]:
    """The parameters :func:`apply` would use: ``fixed`` ones checked, the others drawn.

    Parameters are drawn in the catalogue's order; a fixed parameter consumes no randomness.
    """
    spec = get_task(task)
    check_dist(dist)
    for name in fixed:
        spec.param(name)  # raises for unknown names, with a suggestion
    return {
        p.name: (_checked(task, p.name, p.check, fixed[p.name]) if p.name in fixed else p.draw(rng, dist))
        for p in spec.params
    }


def _checked(task: str, name: str, check: Any, value: Any) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise ValueError(f"task {task!r}: {exc}") from None


def apply(
    task: str, img: np.ndarray, rng: np.random.Generator, *, dist: str = "in", **params: Any
) -> tuple[np.ndarray, dict[str, Any]]:
    """Degrade ``img`` with ``task``; return ``(degraded, params_used)``.

    Args:
        task: a name in :data:`aioir.degradations.TASKS`.
        img: float RGB image (H, W, 3) in [0, 1] (any size, float32 returned).
        rng: the ``numpy.random.Generator`` every random draw goes through.
        dist: ``"in"`` (training / in-distribution ranges) or ``"out"`` (out-of-distribution).
        **params: parameters to fix instead of drawing (e.g. ``sigma=25``), and array inputs the
            task accepts (haze: ``depth=`` an (H, W) map, ``depth_scale=`` the value it is
            divided by, default its maximum).

    Returns:
        The degraded float32 (H, W, 3) image in [0, 1] and the parameters used, as plain,
        JSON-serialisable Python values (array inputs are reported as ``"given"`` or
        ``"estimated"``).
    """
    spec = get_task(task)
    check_dist(dist)
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                         f"got {type(rng).__name__}")
    x = check_image(img)
    arrays = {name: params.pop(name) for name in spec.arrays if name in params}
    arrays = {name: value for name, value in arrays.items() if value is not None}
    inputs = {name: params.pop(name) for name in spec.inputs if name in params}
    inputs = {name: value for name, value in inputs.items() if value is not None}
    used = draw_params(task, rng, dist=dist, **params)
    out = spec.fn(x, rng, **used, **arrays, **inputs)
    for name in spec.arrays:
        used[name] = "given" if name in arrays else "estimated"
    used.update({name: float(value) for name, value in inputs.items()})
    return np.ascontiguousarray(out, dtype=np.float32), used


def apply_window(
    task: str, img: np.ndarray, window: tuple[int, int, int, int], rng: np.random.Generator, *,
    dist: str = "in", **params: Any
) -> np.ndarray:
    """``apply(task, img, rng, ...)[0][y0:y1, x0:x1]`` for ``window = (y0, x0, y1, x1)``, with
    the same draws from ``rng`` and the same values: through the task's ``window_fn`` where it
    has one (rain: the per-pixel work on the window only), else the whole image cut.

    >>> img = np.random.default_rng(1).random((30, 40, 3)).astype(np.float32)
    >>> whole, _ = apply("rain", img, np.random.default_rng(0), value=5000)
    >>> part = apply_window("rain", img, (2, 3, 18, 35), np.random.default_rng(0), value=5000)
    >>> bool(np.array_equal(part, whole[2:18, 3:35]))
    True
    """
    spec = get_task(task)
    y0, x0, y1, x1 = window
    if spec.window_fn is None or spec.arrays or spec.inputs:
        return np.ascontiguousarray(apply(task, img, rng, dist=dist, **params)[0][y0:y1, x0:x1])
    check_dist(dist)
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                         f"got {type(rng).__name__}")
    x = check_image(img)
    used = draw_params(task, rng, dist=dist, **params)
    return np.ascontiguousarray(spec.window_fn(x, rng, window, **used), dtype=np.float32)
