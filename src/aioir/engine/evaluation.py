"""The one evaluation: a restoration function over a setting's test sets, per group.

In-training validation (:meth:`aioir.engine.trainer.Trainer.validate`), ``aioir eval CKPT``
(the run's validation sets) and ``aioir eval CKPT --setting NAME --root DIR`` (the full test
sets, every group, with a degraded-input row) all call :func:`evaluate`; underneath, every image
is measured by :func:`aioir.metrics.evaluate.evaluate_pairs` under the protocol.

>>> import numpy as np
>>> from aioir.data.sources import EmbeddedPhotos
>>> from aioir.data.testsets import SyntheticTestSet
>>> sets = [SyntheticTestSet(EmbeddedPhotos("test"), t, key="index", task_index=i,
...                          max_size=32, multiple=8) for i, t in enumerate(["dark", "noise"])]
>>> res = evaluate(lambda img: img, sets, "mioir", measure_input=True)
>>> list(res), res["main"].task_names
(['main'], ['dark', 'noise'])
>>> summary(res)["per_task"]["dark"]["psnr"] == summary(res)["input_per_task"]["dark"]["psnr"]
True
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from aioir.metrics import LpipsUnavailableError, evaluate_pairs, load_lpips
from aioir.progress import progress as display

RestoreFn = Callable[[np.ndarray], np.ndarray]
#: ``task_context(task)``: a context inside which a network restores images of ``task``
TaskContext = Callable[[str], AbstractContextManager[None]]


#: ``progress`` of :func:`evaluate`: a display (True), none (False), or a function told of each
#: image restored (``fn(1)``; a parent process's display)
Progress = bool | Callable[[int], None]


def evaluate(restore_fn: RestoreFn, sets: Sequence[Any], protocol: Any, *,
             measure_input: bool = False, progress: Progress = False,
             task_context: TaskContext | None = None,
             desc: str = "evaluate", leave: bool = True) -> dict[str, Any]:
    """``{group: EvalResult}`` of ``restore_fn`` on ``sets`` (each has ``column`` and
    ``group`` and yields ``(lq, gt, column, name)``), groups in order of first appearance;
    columns are the sets' columns.

    ``task_context``: for a network that needs the task of the images it restores (the
    model hook of that name, :mod:`aioir.models.hooks`; the diffusion wrapper's ``t_mat``):
    every image of a set is restored inside ``task_context(set.task)``.

    ``progress``: True shows one display over every set (``desc``, images; the total when
    the sets know their length; ``leave=False``: erased when done), a function is called with
    1 after each image restored."""
    with _image_progress(progress, sets, desc, leave) as tick:
        if tick is not None:
            restore_fn = _counted(restore_fn, tick)
        return _evaluate(restore_fn, sets, protocol, measure_input, task_context)


def _counted(restore_fn: RestoreFn, tick: Callable[[int], None]) -> RestoreFn:
    def restore(img: np.ndarray) -> np.ndarray:
        out = restore_fn(img)
        tick(1)
        return out

    return restore


@contextlib.contextmanager
def _image_progress(progress: Progress, sets: Sequence[Any], desc: str, leave: bool
                    ) -> Iterator[Callable[[int], None] | None]:
    if callable(progress):
        yield progress
        return
    if not progress:
        yield None
        return

    try:
        total: int | None = sum(len(ts) for ts in sets)
    except TypeError:  # a set that streams without a length
        total = None
    bar = display(total=total, desc=desc, unit="img", leave=leave)
    try:
        yield bar.update
    finally:
        bar.close()


def _evaluate(restore_fn: RestoreFn, sets: Sequence[Any], protocol: Any, measure_input: bool,
              task_context: TaskContext | None) -> dict[str, Any]:
    groups: dict[str, list[Any]] = {}
    for ts in sets:
        groups.setdefault(ts.group, []).append(ts)
    out = {}
    for group, members in groups.items():
        columns = [ts.column for ts in members]
        fn, samples = restore_fn, itertools.chain.from_iterable(members)
        if task_context is not None:
            fn, samples = _per_task(restore_fn, members, task_context)
        out[group] = evaluate_pairs(fn, samples, protocol, columns, progress=False,
                                    measure_input=measure_input)
    return out


def restore_for(restore_fn: RestoreFn, task_context: TaskContext | None, task: str
                ) -> RestoreFn:
    """``restore_fn`` for images of ``task``: inside ``task_context(task)`` when given.

    >>> restore_for(abs, None, "noise") is abs
    True
    """
    if task_context is None:
        return restore_fn

    def restore(img: np.ndarray) -> np.ndarray:
        with task_context(task):
            return restore_fn(img)

    return restore


def _per_task(restore_fn: RestoreFn, members: Sequence[Any], task_context: TaskContext
              ) -> tuple[RestoreFn, Any]:
    """The samples of ``members`` in order, and a restore function that restores each inside
    the context of the task of the set it came from (``evaluate_pairs`` restores every sample
    before it draws the next)."""
    current: dict[str, str] = {}

    def samples():
        for ts in members:
            current["task"] = getattr(ts, "task", None) or ts.column
            yield from ts

    def restore(img: np.ndarray) -> np.ndarray:
        with task_context(current["task"]):
            return restore_fn(img)

    return restore, samples()


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The first group's :meth:`EvalResult.to_dict` (per-task means, average, per image), with
    the other groups under ``"groups"`` (what ``eval/step_*.json`` holds)."""
    if not results:
        return {}
    first, *rest = results
    out = results[first].to_dict()
    out["group"] = first
    if rest:
        out["groups"] = {g: results[g].to_dict() for g in rest}
    return out


def task_mismatch(setting_tasks: list[str], model_tasks: list[str] | None) -> str | None:
    """A warning when the checkpoint was trained on other tasks than the setting's, else None.

    >>> task_mismatch(["derain"], ["derain"]) is None
    True
    >>> print(task_mismatch(["derain"], ["derain", "snow"]))
    warning: the checkpoint was trained on tasks [derain, snow], the setting has [derain] (all of them trained); evaluating anyway (all-in-one models need no task at test time)
    >>> print(task_mismatch(["derain", "dehaze"], ["derain", "snow"]))
    warning: the checkpoint was trained on tasks [derain, snow], the setting has [derain, dehaze] (not trained: dehaze); evaluating anyway (all-in-one models need no task at test time)
    """  # noqa: E501 - the doctest's expected output is one line
    if model_tasks is None or list(model_tasks) == list(setting_tasks):
        return None
    missing = [t for t in setting_tasks if t not in model_tasks]
    extra = (f" (not trained: {', '.join(missing)})" if missing else
             " (same tasks, other order)" if set(setting_tasks) == set(model_tasks) else
             " (all of them trained)")
    return (f"warning: the checkpoint was trained on tasks [{', '.join(model_tasks)}], the "
            f"setting has [{', '.join(setting_tasks)}]{extra}; evaluating anyway (all-in-one "
            "models need no task at test time)")


def lpips_status(protocol: Any) -> tuple[Any, str | None]:
    """``(protocol, note)``: the protocol unchanged when LPIPS is not asked for or available;
    otherwise a copy without LPIPS and a note saying why it is missing."""
    if not protocol.lpips:
        return protocol, None

    try:
        load_lpips()
    except LpipsUnavailableError as exc:
        return dataclasses.replace(protocol, lpips=False), f"LPIPS unavailable: {exc}"
    return protocol, None
