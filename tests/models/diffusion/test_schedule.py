"""The DDPM maths of aioir.models.diffusion.schedule against closed forms computed here by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aioir.models.diffusion.schedule import NoiseSchedule, decay_weight


def hand_tables(T: int, b0: float, b1: float):
    betas = [b0 + (b1 - b0) * i / (T - 1) for i in range(T)]
    abar, prod = [], 1.0
    for b in betas:
        prod *= 1.0 - b
        abar.append(prod)
    return np.array(betas), np.array(abar)


def test_default_schedule_is_ddpm_rescaled_to_T():
    s = NoiseSchedule(T=50)
    # DDPM: 1e-4 .. 0.02 over 1000 steps; x 1000/50 = 20 -> 0.002 .. 0.4
    betas, abar = hand_tables(50, 0.002, 0.4)
    assert np.allclose(s.betas[1:].numpy(), betas, rtol=0, atol=1e-15)
    assert np.allclose(s.abars[1:].numpy(), abar, rtol=1e-12, atol=0)
    assert float(s.abar(0)) == 1.0 and float(s.beta(0)) == 0.0
    # T = 1000 gives DDPM's own schedule
    big = NoiseSchedule(T=1000)
    assert math.isclose(float(big.beta(1)), 1e-4) and math.isclose(float(big.beta(1000)), 0.02)


def test_forward_diffusion_and_its_inverse():
    s = NoiseSchedule(T=50)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 3, 4, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(3, 3, 4, 5, generator=g, dtype=torch.float64)
    t = torch.tensor([1, 17, 50])
    x_t = s.q_sample(x0, t, eps)
    _, abar = hand_tables(50, 0.002, 0.4)
    for i, ti in enumerate(t.tolist()):
        expected = math.sqrt(abar[ti - 1]) * x0[i] + math.sqrt(1 - abar[ti - 1]) * eps[i]
        assert torch.allclose(x_t[i], expected, atol=1e-12)
    assert torch.allclose(s.predict_x0(x_t, t, eps), x0, atol=1e-10)
    assert torch.allclose(s.eps_from_x0(x_t, t, x0), eps, atol=1e-10)


def test_reverse_mean_is_the_ddpm_posterior_mean():
    """With the true noise, (x_t - beta_t/sqrt(1-abar_t) eps)/sqrt(alpha_t) equals the posterior
    mean of q(x_{t-1} | x_t, x_0) written in x_0 and x_t (Ho et al., Eq. 7)."""
    s = NoiseSchedule(T=50)
    betas, abar = hand_tables(50, 0.002, 0.4)
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(1, 3, 6, 6, generator=g, dtype=torch.float64)
    eps = torch.randn(1, 3, 6, 6, generator=g, dtype=torch.float64)
    for t in (1, 2, 25, 50):
        x_t = s.q_sample(x0, t, eps)
        ab, ab_prev = abar[t - 1], (abar[t - 2] if t > 1 else 1.0)
        b = betas[t - 1]
        mu = ((math.sqrt(ab_prev) * b / (1 - ab)) * x0
              + (math.sqrt(1 - b) * (1 - ab_prev) / (1 - ab)) * x_t)
        assert torch.allclose(s.reverse_mean(x_t, t, eps), mu, atol=1e-10), t


def test_sigma_choices():
    betas, abar = hand_tables(50, 0.002, 0.4)
    s = NoiseSchedule(T=50)
    p = NoiseSchedule(T=50, sigma="posterior")
    assert math.isclose(float(s.sigma(10)), math.sqrt(betas[9]))
    var = betas[9] * (1 - abar[8]) / (1 - abar[9])
    assert math.isclose(float(p.sigma(10)), math.sqrt(var), rel_tol=1e-12)
    assert float(p.sigma(1)) == 0.0


def test_reverse_step_adds_no_noise_at_t1():
    s = NoiseSchedule(T=50)
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    eps = torch.zeros_like(x)
    assert torch.equal(s.reverse_step(x, 1, eps), s.reverse_mean(x, 1, eps))
    a = s.reverse_step(x, 5, eps, generator=torch.Generator().manual_seed(0))
    z = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    assert torch.allclose(a, s.reverse_mean(x, 5, eps) + float(s.sigma(5)) * z)


def test_decay_weight_is_exp_minus_a_t():
    assert math.isclose(float(decay_weight(0)), 1.0)
    assert math.isclose(float(decay_weight(4)), math.exp(-0.2), rel_tol=1e-6)
    assert math.isclose(float(decay_weight(50)), math.exp(-2.5), rel_tol=1e-6)
    assert math.isclose(float(decay_weight(10, rate=0.1)), math.exp(-1.0), rel_tol=1e-6)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="below T = 21"):
        NoiseSchedule(T=10)
    with pytest.raises(ValueError, match=r"1..50|0..50"):
        NoiseSchedule(T=50).abar(51)
    with pytest.raises(ValueError, match="sigma"):
        NoiseSchedule(T=50, sigma="ddim")


def test_eedtp_schedule_matches_the_released_code():
    """xin1u/EEDTP networks/diffusion_reg.py, NoiseSchedule(max_sigma=10, T=50, 'linear',
    eps=0.005): theta_s linear over s = 0..T from 1e-4 * 1000/(T+1) to 0.02 * 1000/(T+1),
    c_t = sum_{s=1..t} theta_s = t theta_0 + step t (t + 1) / 2, dt = -ln(0.005) / c_T,
    sigma_bar_t = (10/255) sqrt(1 - exp(-2 c_t dt)); the state x0 + sigma_bar_t eps.
    By hand: theta_0 = 0.0019608, step = 0.0078039, c_50 = 10.0480, dt = 0.52730,
    sigma_bar_1 * 255 = 1.0122, sigma_bar_50 * 255 = 10 sqrt(1 - 0.005^2)."""
    import math

    T = 50
    theta0, theta_T = 0.1 / (T + 1), 20.0 / (T + 1)
    step = (theta_T - theta0) / T
    c = [t * theta0 + step * t * (t + 1) / 2 for t in range(T + 1)]
    dt = -math.log(0.005) / c[T]
    ref = [10 / 255 * math.sqrt(1 - math.exp(-2 * ct * dt)) for ct in c]
    assert round(ref[1] * 255, 4) == 1.0122 and round(ref[T] * 255, 4) == 9.9999
    s = NoiseSchedule(T, kind="eedtp")
    for t in (1, 2, 10, 25, 49, 50):
        assert math.isclose(s.noise_to_signal(t), ref[t], rel_tol=1e-9)
    # x_t is x0 + sigma_bar eps up to sqrt(abar_t) = 1 / sqrt(1 + sigma_bar^2)
    x0, eps = torch.full((1, 1, 2, 2), 0.5), torch.ones(1, 1, 2, 2)
    xt = s.q_sample(x0.double(), 30, eps.double())
    scale = 1 / math.sqrt(1 + ref[30] ** 2)
    assert torch.allclose(xt, scale * (x0.double() + ref[30] * eps.double()), rtol=1e-12)
    with pytest.raises(ValueError, match="kind"):
        NoiseSchedule(T, kind="cosine")
