"""Time-sequential Incremental Training (TIT) as engine stages.

The paper injects the tasks' data into training one task at a time "in order of their matching
time step t_mat" (Sec. 2.1, Fig. 5; FACTS section 6: increasing ``t_mat``), each incremental task
training 100K iterations (App. G.2). In aioir this is a staged schedule, one stage per task:

* stage ``i`` draws its data from the first ``i + 1`` tasks in ``t_mat`` order (``replay="all"``:
  the data injected so far stays in the mix, balanced over its tasks), or from task ``i`` alone
  (``replay="none"``);
* every stage lasts ``steps_per_task`` optimizer steps (one budget for all, or one per stage)
  and restarts the lr schedule (the engine's stages always do);
* every stage after the first starts a fresh optimizer (``fresh_optimizer``: Adam's moments
  reset): Algorithm 4 trains one network ``r_theta_i`` per incremental task, initialised from
  ``theta_{i-1}``, 100K iterations each under the recipe's cosine annealing, i.e. a training run
  of its own per task (``fresh_optimizer=False`` keeps the moments across stages);
* ties in ``t_mat`` keep the run's task order.

The stage dictionaries carry ``tasks`` (``train.stages[].tasks``: the task subset a stage's data
draws from) and ``fresh_optimizer`` for the engine (:mod:`aioir.engine.stages`). Algorithm 4 writes
its loop ``for i = n, ..., 1``; with tasks indexed
in increasing ``t_mat`` that would be the decreasing order, which the text and Fig. 5 contradict:
``order="decreasing"`` is available as that reading.

>>> stages = incremental_stages({"haze": 47, "noise": 4, "rain": 8}, steps_per_task=100)
>>> [(s["steps"], s["tasks"]) for s in stages]
[(100, ['noise']), (100, ['noise', 'rain']), (100, ['noise', 'rain', 'haze'])]
>>> [s["fresh_optimizer"] for s in stages]
[False, True, True]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ORDERS = ("increasing", "decreasing")
REPLAYS = ("all", "none")


def split_budget(total: int, stages: int) -> list[int]:
    """``total`` steps in ``stages`` near-equal budgets (the first ones one step longer when
    it does not divide), each at least one step.

    >>> split_budget(700, 7), split_budget(10, 3)
    ([100, 100, 100, 100, 100, 100, 100], [4, 3, 3])
    """
    if stages < 1:
        raise ValueError(f"need at least one stage, got {stages}")
    if total < stages:
        raise ValueError(f"{total} steps cannot give each of {stages} stages a step")
    base, extra = divmod(int(total), stages)
    return [base + (1 if i < extra else 0) for i in range(stages)]


def task_order(t_mat: Mapping[str, int], order: str = "increasing") -> list[str]:
    """Tasks sorted by ``t_mat`` (stable: ties keep the mapping's order)."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    names = list(t_mat)
    ranked = sorted(names, key=lambda n: (t_mat[n], names.index(n)))
    return ranked if order == "increasing" else sorted(
        names, key=lambda n: (-t_mat[n], names.index(n)))


def incremental_stages(
    t_mat: Mapping[str, int],
    steps_per_task: int | Sequence[int],
    *,
    order: str = "increasing",
    replay: str = "all",
    lr: float | None = None,
    fresh_optimizer: bool = True,
) -> list[dict[str, Any]]:
    """One stage config (a dict for ``train.stages``) per task, in ``t_mat`` order.

    ``steps_per_task``: one budget for every stage, or one per stage (in stage order).
    ``fresh_optimizer``: every stage after the first resets the optimizer's state.
    """
    if replay not in REPLAYS:
        raise ValueError(f"replay must be one of {REPLAYS}, got {replay!r}")
    if not t_mat:
        raise ValueError("incremental training needs at least one task with a t_mat")
    tasks = task_order(t_mat, order)
    budgets = ([int(steps_per_task)] * len(tasks) if isinstance(steps_per_task, int)
               else [int(s) for s in steps_per_task])
    if len(budgets) != len(tasks):
        raise ValueError(f"{len(budgets)} stage budgets for {len(tasks)} tasks")
    if any(b < 1 for b in budgets):
        raise ValueError(f"every stage needs >= 1 step, got {budgets}")
    stages = []
    for i, (task, steps) in enumerate(zip(tasks, budgets)):
        stage: dict[str, Any] = {
            "steps": steps,
            "tasks": tasks[: i + 1] if replay == "all" else [task],
            "fresh_optimizer": bool(fresh_optimizer and i > 0),
        }
        if lr is not None:
            stage["lr"] = float(lr)
        stages.append(stage)
    return stages
