"""MiOIR sequential learning: the stage lists against the official option files, by hand."""

from __future__ import annotations

import pytest

from aioir.strategies.sequential import MIOIR_ORDERS, sequential_stages

ALL_S = ["sr", "blur", "noise", "jpeg", "rain", "haze", "dark"]
ALL_U = ["rain", "jpeg", "blur", "sr", "noise", "haze", "dark"]


def test_srresnet_matches_the_official_files() -> None:
    """MiO_001_SRResNet_S_s_25w ... _s+b+n+j+r+h_25w: 250,000 iterations, one cosine period
    each; MiO_001_SRResNet_S_s+b+n+j+r+h+d_25w_250w: 1,000,000 = 4 periods of 250,000."""
    stages = sequential_stages("srresnet", 2_500_000)
    expected = [(250_000, ALL_S[:i], True) for i in range(1, 8)]
    expected += [(250_000, ALL_S, False)] * 3
    assert [(s["steps"], s["tasks"], s["fresh_optimizer"]) for s in stages] == expected


def test_uformer_promptir_restormer_match_the_official_files() -> None:
    """MiO_004_Uformer_S_r_10w ... : 100,000 each; the last stage 400,000 = 4 x 100,000."""
    for preset in ("uformer", "promptir", "restormer"):
        stages = sequential_stages(preset, 1_000_000)
        expected = [(100_000, ALL_U[:i], True) for i in range(1, 8)]
        expected += [(100_000, ALL_U, False)] * 3
        assert [(s["steps"], s["tasks"], s["fresh_optimizer"]) for s in stages] == expected


def test_orders_are_the_issue_and_file_names_orders() -> None:
    assert list(MIOIR_ORDERS["srresnet"]) == ALL_S
    assert list(MIOIR_ORDERS["uformer"]) == ALL_U


def test_equal_and_custom_splits_keep_the_budget() -> None:
    eq = sequential_stages(["a", "b", "c"], 100, "equal")
    assert [s["steps"] for s in eq] == [34, 33, 33]
    assert [s["tasks"] for s in eq] == [["a"], ["a", "b"], ["a", "b", "c"]]
    custom = sequential_stages(["a", "b"], 90, [1, 2], last_periods=3)
    assert [s["steps"] for s in custom] == [30, 20, 20, 20]
    assert [s["fresh_optimizer"] for s in custom] == [True, True, False, False]
    assert sum(s["steps"] for s in sequential_stages("srresnet", 1_234_567)) == 1_234_567
    no_fresh = sequential_stages(["a", "b"], 10, "equal", fresh_optimizer=False)
    assert not any(s["fresh_optimizer"] for s in no_fresh)


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown order preset 'swin'"):
        sequential_stages("swin", 100)
    with pytest.raises(ValueError, match="more than once"):
        sequential_stages(["a", "a"], 100)
    with pytest.raises(ValueError, match="3 lengths for 2 tasks"):
        sequential_stages(["a", "b"], 100, [1, 1, 1])
    with pytest.raises(ValueError, match="cannot cover"):
        sequential_stages("srresnet", 5)
