"""The task catalogue: MiOIR ids and ranges as published, settings' ids, draws within ranges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aioir.degradations import DENOISE_TASKS, MIOIR_TASKS, TASKS, draw_params, task_ids

# FACTS.md section 3 / MiOIR's data scripts, typed in by hand (inclusive ranges: the scripts'
# np.random.randint(50, 100), randint(20, 41) and randint(-45, 45) exclude their upper bound).
PUBLISHED = {
    "blur": {"sigma": ((1, 3), (3, 5)), "kernel_size": ((7, 9, 11, 13, 15, 17, 19, 21),) * 2},
    "noise": {"sigma": ((15, 50), (50, 70))},
    "jpeg": {"quality": ((30, 70), (10, 30))},
    "rain": {"value": ((50, 99), (100, 149)), "length": ((20, 40),) * 2, "angle": ((-45, 44),) * 2,
             "width": ((3, 5, 7, 9, 11),) * 2},
    "haze": {"beta": ((0.5, 2.5), (2.5, 3.0)), "airlight": ((0.8, 1.0),) * 2},
    "dark": {"gamma": ((1, 3), (3, 4))},
    "sr": {"scale": ((4,), (4,)), "antialias": ((False,), (False,))},
}


def test_mioir_names_and_ids():
    assert MIOIR_TASKS == ["sr", "blur", "noise", "jpeg", "rain", "haze", "dark"]
    assert [TASKS[n].id for n in MIOIR_TASKS] == list(range(7))
    assert DENOISE_TASKS == ["denoise_15", "denoise_25", "denoise_50"]
    assert len({spec.id for spec in TASKS.values()}) == len(TASKS)  # catalogue ids are unique


@pytest.mark.parametrize("task", list(PUBLISHED))
def test_published_ranges(task):
    for name, (rin, rout) in PUBLISHED[task].items():
        assert tuple(TASKS[task].ranges("in")[name]) == tuple(rin), name
        assert tuple(TASKS[task].ranges("out")[name]) == tuple(rout), name
    assert set(TASKS[task].param_names) == set(PUBLISHED[task])


def test_setting_ids():
    assert task_ids(["denoise_15", "denoise_25", "denoise_50"]) == {"denoise_15": 0, "denoise_25": 1, "denoise_50": 2}
    assert task_ids(["rain", "sr"]) == {"rain": 0, "sr": 1}
    with pytest.raises(ValueError, match="did you mean 'blur'"):
        task_ids(["blurr"])
    with pytest.raises(ValueError, match="twice"):
        task_ids(["sr", "sr"])


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("dist", ["in", "out"])
def test_draws_stay_within_ranges_and_cover_them(task, dist):
    rng = np.random.default_rng(123)
    draws = [draw_params(task, rng, dist=dist) for _ in range(300)]
    json.dumps(draws)  # plain, JSON-serialisable values
    for param in TASKS[task].params:
        values = [d[param.name] for d in draws]
        r = param.range(dist)
        if param.kind in ("choice", "option"):
            assert set(values) == set(r), param.name  # every listed value is drawn
            continue
        lo, hi = r
        assert all(lo <= v <= hi for v in values), param.name
        span = hi - lo
        assert min(values) <= lo + 0.1 * span and max(values) >= hi - 0.1 * span, param.name
        if param.kind != "uniform":
            assert all(isinstance(v, int) for v in values), param.name
        else:
            assert all(round(v, 2) == v for v in values), param.name  # MiOIR rounds to 2 decimals


def test_round_draws_match_round_of_uniform():
    # round(U(15, 50)) puts half weight on the end points: 15 and 50 are each about 1/70.
    rng = np.random.default_rng(0)
    values = np.array([draw_params("noise", rng)["sigma"] for _ in range(7000)])
    assert abs((values == 15).mean() - 1 / 70) < 0.006 and abs((values == 30).mean() - 1 / 35) < 0.008
