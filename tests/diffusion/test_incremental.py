"""The time-sequential incremental schedule: stages from a t_mat table."""

from __future__ import annotations

import pytest

from aioir.diffusion.incremental import incremental_stages, task_order
from aioir.diffusion.matching import PAPER_TMAT


def test_paper_table_gives_the_papers_order_with_replay():
    tmat = {"blurry": 50, "hazy": 47, "jpeg": 12, "low-light": 38, "noisy": 4, "raindrop": 22,
            "rainy": 8, "shadowed": 27, "snowy": 15, "inpainting": 19}
    stages = incremental_stages(tmat, 100_000)
    assert [s["tasks"][-1] for s in stages] == list(PAPER_TMAT)        # noisy, rainy, ... blurry
    assert [len(s["tasks"]) for s in stages] == list(range(1, 11))
    assert all(s["tasks"] == list(PAPER_TMAT)[: i + 1] for i, s in enumerate(stages))
    assert sum(s["steps"] for s in stages) == 1_000_000 and "lr" not in stages[0]


def test_options():
    tmat = {"a": 10, "b": 3, "c": 10}
    assert task_order(tmat) == ["b", "a", "c"]                  # ties keep the given order
    assert task_order(tmat, "decreasing") == ["a", "c", "b"]
    none = incremental_stages(tmat, [5, 6, 7], replay="none", lr=1e-4)
    assert [(s["steps"], s["tasks"], s["lr"]) for s in none] == [
        (5, ["b"], 1e-4), (6, ["a"], 1e-4), (7, ["c"], 1e-4)]
    with pytest.raises(ValueError, match="budgets"):
        incremental_stages(tmat, [1, 2])
    with pytest.raises(ValueError, match="replay"):
        incremental_stages(tmat, 1, replay="some")
    with pytest.raises(ValueError, match="at least one task"):
        incremental_stages({}, 1)
    with pytest.raises(ValueError, match=">= 1 step"):
        incremental_stages(tmat, 0)
