"""Memory budgets: measured peaks against allocations counted by hand, the fit, the planner."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aioir.inference.memory import (
    OVERHEAD,
    OVERHEAD_FADE,
    SLACK,
    ActivationCost,
    BudgetError,
    LiveTensorBytes,
    calibrate,
    measure_peak_bytes,
    parse_memory,
    plan_tiles,
    resident,
    window_cost,
)


@pytest.mark.parametrize("text,value", [("1.5G", 3 * 2**29), ("800M", 800 * 2**20),
                                        ("2GiB", 2 * 2**30), ("512mb", 512 * 2**20),
                                        ("4096", 4096), ("1T", 2**40)])
def test_parse_memory(text, value):
    assert parse_memory(text) == value


@pytest.mark.parametrize("bad", ["", "lots", "-1G", "0", "1.5X"])
def test_parse_memory_refuses_with_the_value(bad):
    with pytest.raises(ValueError, match="memory"):
        parse_memory(bad)


def test_live_bytes_follow_allocations_and_frees():
    with LiveTensorBytes() as m:
        a = torch.ones(250)            # 1000 B live
        b = a.view(25, 10)             # a view: no new storage
        c = a + 1                      # 2000
        del a, b                       # 1000 (the storage dies with its last view)
        d = torch.empty(500)           # 3000: the peak
        del c, d
        e = torch.zeros(100)           # 400
    assert m.peak == 3000 and m.live == 400
    del e


def test_measured_peak_of_a_known_function():
    # x: (1, 3, h, w) float32. repeat -> 12 channels (48 B/px), * 2 -> another 48 B/px while the
    # repeat is alive: 96 B/px; then the repeat dies and the 1-channel sum adds 4 B/px.
    fn = lambda x: (x.repeat(1, 4, 1, 1) * 2).sum(1, keepdim=True)
    x = torch.rand(1, 3, 20, 30)
    assert measure_peak_bytes(fn, x) == 96 * 600


def test_calibration_recovers_linear_and_quadratic_costs():
    lin = lambda x: (x.repeat(1, 4, 1, 1) * 2).sum(1, keepdim=True)  # 96 B/px
    cost = calibrate(lin, sizes=(16, 32, 48))
    assert cost.quadratic == 0 and cost.per_pixel == pytest.approx(96)
    assert cost.constant == pytest.approx(0, abs=1e-6)

    def quad(x):  # an outer product of P/64 values: P^2 / 1024 bytes, like global attention
        v = x.flatten()[: x.shape[-1] * x.shape[-2] // 64]
        return torch.outer(v, v).sum()

    c = calibrate(quad, sizes=(128, 192, 256))
    assert c.quadratic == pytest.approx(1 / 1024) and c.per_pixel == pytest.approx(0, abs=1e-6)


def test_whole_image_when_it_fits():
    cost = ActivationCost(0.0, 100.0)
    plan = plan_tiles(300, 400, cost=cost, budget=2**30, fixed=0)
    assert plan.whole and plan.overlap == 0


@pytest.mark.parametrize("budget_mb", [300, 600, 1200])
def test_plan_fits_the_budget_and_wastes_little(budget_mb):
    cost = ActivationCost(1e5, 504.0)  # tiny_unet width 24, measured
    budget, fixed = budget_mb * 2**20, 2 * 3000 * 4000 * 3
    plan = plan_tiles(3000, 4000, cost=cost, budget=budget, fixed=fixed, overlap=32)
    used = fixed + window_cost(cost, plan.tile_h, plan.tile_w, width=4000, batch=plan.batch,
                               overlap=plan.overlap)
    assert used <= budget
    assert plan.rows[-1] + plan.tile_h == 3000 and plan.cols[-1] + plan.tile_w == 4000
    # even windows: the network sees the image plus the overlaps (and < 1 px of rounding each)
    ny, nx = len(plan.rows), len(plan.cols)
    assert plan.processed_pixels <= (3000 + (ny - 1) * 32 + ny) * (4000 + (nx - 1) * 32 + nx)
    if budget_mb >= 1200:
        assert plan.processed_pixels < 1.1 * 3000 * 4000
    # a bigger window of the same grid shape would not have fitted
    bigger = window_cost(cost, plan.tile_h + 64, plan.tile_w + 64, width=4000, overlap=32)
    assert fixed + bigger > budget or plan.windows == 1


def test_fixed_tile_plans_the_batch():
    cost = ActivationCost(0.0, 500.0)
    one = window_cost(cost, 128, 128, width=2000, overlap=16)
    plan = plan_tiles(1000, 2000, cost=cost, budget=int(one * 3), fixed=0, overlap=16, tile=128)
    assert (plan.tile_h, plan.tile_w) == (128, 128) and 1 < plan.batch <= len(plan.cols)
    assert window_cost(cost, 128, 128, width=2000, batch=plan.batch, overlap=16) <= one * 3
    with pytest.raises(BudgetError, match="use a smaller --tile or a larger --max-memory"):
        plan_tiles(1000, 2000, cost=cost, budget=int(one / 2), fixed=0, overlap=16, tile=128)


def test_impossible_budget_says_what_it_needs():
    with pytest.raises(BudgetError, match=r"3000 x 4000 needs 68\.7 MiB for the image buffers"):
        plan_tiles(3000, 4000, cost=ActivationCost(0.0, 500.0), budget=2**20,
                   fixed=2 * 3000 * 4000 * 3, overlap=32)


def test_overhead_is_applied_to_the_measured_peak():
    cost = ActivationCost(0.0, 100.0)
    tracked = 100 * 100  # bytes: the factor is 4 - 1.5 * tracked / 512 MiB
    factor = OVERHEAD - 1.5 * tracked / (512 * 2**20)
    assert window_cost(cost, 10, 10, width=10) == pytest.approx(
        factor * tracked + SLACK + 4 * 3 * 10 * 10 + 4 * 6 * 100, rel=1e-12)
    # 256 MiB tracked: half-way down from 4 x to 2.5 x = 3.25 x
    big = ActivationCost(256 * 2**20, 0.0)
    assert window_cost(big, 10, 10, width=10) == (3.25 * 256 * 2**20 + SLACK + 4 * 3 * 10 * 10
                                                  + 4 * 6 * 100)


def test_the_allowance_grows_with_the_window():
    """A larger window never looks cheaper to the planner (the factor falls, the product not)."""
    tracked = np.linspace(0, 2 * OVERHEAD_FADE, 401)
    allowed = np.array([resident(t) for t in tracked])
    assert np.all(np.diff(allowed) > 0)
    assert resident(2 * OVERHEAD_FADE) == 2.5 * 2 * OVERHEAD_FADE


def test_views_of_tensors_made_before_count_nothing():
    x = torch.rand(1, 3, 40, 40)
    w = torch.rand(3, 3)
    with LiveTensorBytes() as m:
        a = x.flatten()[:100]           # a view of the input
        b = w.t()                       # a view of a "weight"
        x.mul_(1.0)                     # in place on the input
        c = a * 2                       # 400 B, the only allocation
    assert m.peak == 400
    del a, b, c


def test_calibration_stays_within_the_budget():
    """A budget that cannot hold the larger calibration forwards stops the calibration early."""
    lin = lambda x: (x.repeat(1, 4, 1, 1) * 2).sum(1, keepdim=True)  # 96 B/px
    # 128 px: 1.5 MiB; 256 px would need about 4 x 6 MiB + SLACK: over a SLACK + 10 MiB budget
    cost = calibrate(lin, budget=SLACK + 10 * 2**20)
    assert cost.points == 1 and cost.per_pixel == pytest.approx(96)
    cost = calibrate(lin, budget=SLACK + 30 * 2**20)
    assert cost.points == 2 and cost.per_pixel == pytest.approx(96)
