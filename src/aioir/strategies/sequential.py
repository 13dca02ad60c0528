"""MiOIR sequential learning ("-S"): cumulative task stages in a fixed order.

Kong, Dong and Zhang ("Towards Effective Multiple-in-One Image Restoration: A Sequential and
Prompt Learning Strategy") train on ``{t1}``, then ``{t1, t2}``, ..., then all tasks; each stage
starts from the previous stage's weights with a fresh optimizer and its own cosine period, and
the whole run costs the mixed run's budget. Any loss-balancing strategy runs inside the stages
("-S + Art" in the Art paper's table): tasks absent from a stage are absent from its batches,
which every strategy handles.

**How MiOIR splits the budget** (read from the official option files,
``Xiangtaokong/MiOIR options/train/{SRResNet,Uformer,PromptIR,Restormer}/MiO_00*_S_*.yml``): the
mixed budget is cut into ``n + 3`` equal units for ``n = 7`` tasks (SRResNet: 10 x 250,000 =
2.5M; Uformer/PromptIR/Restormer: 10 x 100,000 = 1M). Stages 1 to 6 (one to six tasks) train one
unit each, one cosine period (``total_iter`` 250k / 100k); the seventh stage (all tasks) trains
four units as ``CosineAnnealingRestartLR`` with four equal periods (``..._25w_250w``: 1M
iterations for SRResNet, 400k for the others). Each stage is a new BasicSR run loading the
previous ``net_g_latest.pth`` (``params`` into the network, ``params_ema`` into the EMA copy):
fresh optimizer, the EMA carried on. The orders are the file names' (``s+b+n+j+r+h+d`` for
SRResNet and SwinIR, ``r+j+b+s+n+h+d`` for Uformer, PromptIR and Restormer).

:func:`sequential_stages` turns an order and a budget into ``train.stages`` entries (plain dicts:
``steps``, ``tasks``, ``fresh_optimizer``); the last stage's restarts are further entries with
all tasks and ``fresh_optimizer: false`` (one optimizer for the stage, the schedule restarts at
every entry, as aioir's stages do).

>>> [(s["steps"], "+".join(t[0] for t in s["tasks"]), s["fresh_optimizer"])
...  for s in sequential_stages("srresnet", 2_500_000)][:2]
[(250000, 's', True), (250000, 's+b', True)]
>>> stages = sequential_stages("uformer", 1_000_000)
>>> len(stages), stages[6]["tasks"][-1]
(10, 'dark')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: MiOIR's task orders (official option files), by backbone
MIOIR_ORDERS: dict[str, tuple[str, ...]] = {
    "srresnet": ("sr", "blur", "noise", "jpeg", "rain", "haze", "dark"),
    "swinir": ("sr", "blur", "noise", "jpeg", "rain", "haze", "dark"),
    "uformer": ("rain", "jpeg", "blur", "sr", "noise", "haze", "dark"),
    "promptir": ("rain", "jpeg", "blur", "sr", "noise", "haze", "dark"),
    "restormer": ("rain", "jpeg", "blur", "sr", "noise", "haze", "dark"),
}

#: MiOIR's last stage runs this many cosine periods of one unit each
MIOIR_LAST_PERIODS = 4


def resolve_order(order: str | Sequence[str]) -> list[str]:
    """A preset name (``MIOIR_ORDERS``) or an explicit task list; no task twice."""
    if isinstance(order, str):
        if order not in MIOIR_ORDERS:
            raise ValueError(
                f"unknown order preset {order!r}; known: {', '.join(sorted(MIOIR_ORDERS))} "
                "(or give the task list)"
            )
        return list(MIOIR_ORDERS[order])
    tasks = [str(t) for t in order]
    if not tasks:
        raise ValueError("the task order is empty")
    dup = sorted({t for t in tasks if tasks.count(t) > 1})
    if dup:
        raise ValueError(f"the task order names {dup} more than once")
    return tasks


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Integers proportional to ``weights`` summing to ``total`` (largest remainders)."""
    if total < len(weights):
        raise ValueError(f"{total} steps cannot cover {len(weights)} stage periods")
    w = [float(x) for x in weights]
    if any(x <= 0 for x in w):
        raise ValueError(f"stage weights must be > 0, got {list(weights)}")
    exact = [total * x / sum(w) for x in w]
    out = [int(e) for e in exact]
    order = sorted(range(len(w)), key=lambda i: (out[i] - exact[i], i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def sequential_stages(
    order: str | Sequence[str],
    total_steps: int,
    split: str | Sequence[float] = "mioir",
    last_periods: int | None = None,
    fresh_optimizer: bool = True,
) -> list[dict[str, Any]]:
    """``train.stages`` entries for cumulative sequential learning.

    Args:
        order: a preset of :data:`MIOIR_ORDERS` or the task names in training order.
        total_steps: the whole budget (the mixed run's).
        split: ``"mioir"`` (n - 1 stages of one unit, the last of ``MIOIR_LAST_PERIODS`` units:
            MiOIR's split), ``"equal"`` (n equal stages) or n relative lengths.
        last_periods: cosine periods in the last stage (default: 4 for ``"mioir"``, else 1).
        fresh_optimizer: a new optimizer at the start of every stage (MiOIR: yes).

    Returns:
        One dict per schedule period: ``steps``, ``tasks`` (the cumulative task list) and
        ``fresh_optimizer`` (True at a stage's first period, False at its restarts).
    """
    tasks = resolve_order(order)
    n = len(tasks)
    if split == "mioir":
        weights: list[float] = [1.0] * (n - 1) + [float(MIOIR_LAST_PERIODS)]
        periods = MIOIR_LAST_PERIODS if last_periods is None else last_periods
    elif split == "equal":
        weights, periods = [1.0] * n, 1 if last_periods is None else last_periods
    elif isinstance(split, str):
        raise ValueError(f"split must be 'mioir', 'equal' or {n} numbers, got {split!r}")
    else:
        weights, periods = [float(x) for x in split], 1 if last_periods is None else last_periods
        if len(weights) != n:
            raise ValueError(f"split has {len(weights)} lengths for {n} tasks")
    if periods < 1:
        raise ValueError(f"last_periods must be >= 1, got {periods}")
    # the last stage's periods are equal parts of its share
    parts = weights[:-1] + [weights[-1] / periods] * periods
    steps = _apportion(int(total_steps), parts)
    out = []
    for i, length in enumerate(steps):
        stage = min(i, n - 1)  # periods after the n-th are the last stage's restarts
        out.append({
            "steps": length,
            "tasks": tasks[: stage + 1],
            "fresh_optimizer": bool(fresh_optimizer and i <= n - 1),
        })
    return out
