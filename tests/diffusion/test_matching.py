"""Timestep matching (Algorithm 2) against a loop written here, and the table beside the paper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aioir.diffusion.matching import (
    PAPER_TMAT,
    best_step,
    distance_curves,
    match_tasks,
    paper_name,
    rank_correlation,
    summary_line,
    table_rows,
)
from aioir.models.diffusion.network import DiffusionNet
from aioir.models.diffusion.schedule import NoiseSchedule


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    n = DiffusionNet(backbone_options={"width": 8}, timesteps=25, embed_dim=8).eval()
    with torch.no_grad():
        for p in n.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return n


def pairs(seed=0, n=3):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(n, 3, 12, 12, generator=g)
    lq = (gt + 0.2 * torch.randn(n, 3, 12, 12, generator=g)).clamp(0, 1)
    return lq, gt


@pytest.mark.parametrize("raw", [False, True])
def test_step_and_x0_curves_match_a_numpy_loop(net, raw):
    lq, gt = pairs()
    betas = np.linspace(0.004, 0.8, 25)  # DDPM's 1e-4 .. 0.02 rescaled by 1000 / 25
    abar = np.cumprod(1 - betas)
    suffix = "_raw" if raw else ""
    step = distance_curves(net, lq, gt, criterion="step" + suffix, batch_size=2).numpy()
    x0c = distance_curves(net, lq, gt, criterion="x0" + suffix, batch_size=2).numpy()
    y, x = lq.double().numpy(), gt.double().numpy()
    with torch.no_grad():
        for t in range(1, 26):
            b, ab = betas[t - 1], abar[t - 1]
            xt = y if raw else np.sqrt(ab) * y          # the degraded image as a state at t
            eps = net(torch.from_numpy(xt).float(), t).double().numpy()
            prev = (xt - b / np.sqrt(1 - ab) * eps) / np.sqrt(1 - b)          # Alg. 2 line 8, z=0
            if not raw:
                prev = prev / np.sqrt(abar[t - 2] if t > 1 else 1.0)          # image scale
            d = (((y - prev) - (y - x)) ** 2).reshape(3, -1).mean(1)           # Alg. 2 line 9
            assert np.allclose(step[:, t - 1], d, rtol=1e-4, atol=1e-9), t
            x0 = (xt - np.sqrt(1 - ab) * eps) / np.sqrt(ab)
            assert np.allclose(x0c[:, t - 1], ((x0 - x) ** 2).reshape(3, -1).mean(1), rtol=1e-4)


class Wiener(torch.nn.Module):
    """The exact (MMSE) noise predictor when every pixel of the clean images is drawn from
    N(mu, var): ``E[x0 | x_t] = mu + k (x_t - sqrt(abar) mu)``, ``k = sqrt(abar) var /
    (abar var + 1 - abar)``, returned as ``eps = (x_t - sqrt(abar) E[x0 | x_t]) / sqrt(1 - abar)``.
    It knows the images' distribution, not the images or their noise."""

    def __init__(self, mu: float, var: float, T: int = 50) -> None:
        super().__init__()
        self.mu, self.var = mu, var
        self.schedule = NoiseSchedule(T)
        self.dummy = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x, t):
        steps = torch.as_tensor(t).expand(x.shape[0]) if torch.as_tensor(t).dim() == 0 else t
        ab = self.schedule.abar(steps).to(x).view(-1, 1, 1, 1)
        x0 = self.mu + ab.sqrt() * self.var / (ab * self.var + 1 - ab) * (x - ab.sqrt() * self.mu)
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()

    def eps_prediction(self, out, x_t, t):
        return out


def test_gaussian_noise_of_a_steps_level_matches_that_step():
    """The known case: y = x + sigma n with sigma the noise-to-signal ratio of step t*,
    sqrt((1 - abar_t*) / abar_t*) from the schedule's alpha-bar written out here, is the DDPM state
    of step t* up to the factor sqrt(abar_t*); with the exact denoiser, matching must return t*.
    The earlier default (one reverse step from x_t = y, unscaled) returned 5 for t* = 4..20."""
    betas = np.linspace(0.002, 0.4, 50)
    abar = np.cumprod(1 - betas)
    g = torch.Generator().manual_seed(0)
    mu, sd = 0.5, 0.25
    x = mu + sd * torch.randn(8, 3, 32, 32, generator=g, dtype=torch.float64)
    net = Wiener(mu, sd**2)
    for t_star in (2, 4, 8, 12, 20, 30):
        sigma = float(np.sqrt((1 - abar[t_star - 1]) / abar[t_star - 1]))
        y = x + sigma * torch.randn(x.shape, generator=g, dtype=torch.float64)
        (row,) = match_tasks(net, {"noise": (y, x)})
        assert row.t_mat == t_star, (t_star, row.t_mat)
    y8 = x + float(np.sqrt((1 - abar[7]) / abar[7])) * torch.randn(x.shape, generator=g,
                                                                   dtype=torch.float64)
    assert best_step(distance_curves(net, y8, x, criterion="step_raw")) != 8


def test_best_step_is_the_argmin_of_the_mean_curve():
    curves = torch.tensor([[5.0, 1.0, 3.0], [5.0, 2.0, 0.5]], dtype=torch.float64)
    assert best_step(curves) == 2            # means 5, 1.5, 1.75
    assert best_step(torch.tensor([[1.0, 1.0]])) == 1   # ties: the earliest step


def test_sdedit_with_the_exact_denoiser_recovers_the_image(oracle):
    """Diffusing y to any t and running the exact chain back lands on the clean image."""
    c = torch.rand(1, 3, 8, 8)
    lq = (c + 0.3).clamp(0, 1)
    curves = distance_curves(oracle(c, T=25), lq, c, criterion="sdedit")
    assert curves.shape == (1, 25) and float(curves.max()) < 1e-7


def test_match_rows_and_table(net):
    data = {"noise": pairs(0, 2), "sr": pairs(1, 2)}
    rows = match_tasks(net, data, criterion="x0")
    assert [r.task for r in rows] == ["noise", "sr"]
    assert rows[0].paper_task == "noisy" and rows[0].paper_t_mat == 4
    assert rows[1].paper_task is None and rows[1].paper_t_mat is None
    assert len(rows[0].curve) == 25 and 1 <= rows[0].t_mat <= 25
    headers, body = table_rows(rows)
    assert headers[1] == "t_mat (ours)" and headers[-1] == "t_mat (paper)"
    assert [b[1] for b in body] == sorted(b[1] for b in body)
    assert "fewer than two" in summary_line(rows)


def test_names_and_rank_correlation():
    assert list(PAPER_TMAT.values()) == [4, 8, 12, 15, 19, 22, 27, 38, 47, 50]
    expected = {"noise": "noisy", "rain": "rainy", "jpeg": "jpeg", "dark": "low-light",
                "haze": "hazy", "blur": "blurry", "sr": None, "motion-blurry": "blurry",
                "uncompleted": "inpainting", "shadowed": "shadowed"}
    assert {k: paper_name(k) for k in expected} == expected
    # Spearman by hand: ranks (1,2,3,4) vs (2,1,4,3): d^2 = 4 -> 1 - 6*4/(4*15) = 0.6
    assert abs(rank_correlation([1, 2, 3, 4], [2, 1, 4, 3]) - 0.6) < 1e-12
    with pytest.raises(ValueError, match="criterion"):
        distance_curves(None, torch.zeros(1), torch.zeros(1), criterion="nope")
