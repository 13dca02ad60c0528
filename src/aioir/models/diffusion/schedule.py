"""The DDPM noise schedule and its maths, with T steps (T = 50 as in the paper).

Notation (Ho et al. 2020; the paper's Algorithms 1, 2 and 5), time steps ``t`` in ``1..T``:

* ``beta_t``: linear from ``beta_start`` to ``beta_end``; by default DDPM's 1e-4 .. 0.02 over
  1000 steps rescaled to ``T`` steps (``1000 / T`` times each end, as improved DDPM rescales), so
  ``T = 50`` covers the same total noise in 50 larger steps: 0.002 .. 0.4;
* ``alpha_t = 1 - beta_t``, ``abar_t = prod_{s <= t} alpha_s`` (``abar_0 = 1``);
* forward diffusion ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``;
* one reverse step (Algorithm 2 line 8)
  ``x_{t-1} = (x_t - (1 - alpha_t) / sqrt(1 - abar_t) * eps_hat) / sqrt(alpha_t) + sigma_t z``,
  with ``sigma_t^2 = beta_t`` (DDPM's first choice; ``posterior`` gives
  ``beta_t (1 - abar_{t-1}) / (1 - abar_t)``);
* the one-step estimate of the clean image ``x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) /
  sqrt(abar_t)``.

Data live in ``[0, 1]`` (aioir's image convention; FACTS section 6).

``kind="eedtp"`` is the schedule of the authors' released code (xin1u/EEDTP
``networks/diffusion_reg.py``, ``NoiseSchedule(max_sigma=10, T=50, schedule="linear",
eps=0.005)``): a variance-exploding state ``x0 + sigma_bar_t eps`` with ``theta`` linear from
``1e-4 * 1000 / (T + 1)`` to ``0.02 * 1000 / (T + 1)`` over ``T + 1`` points, ``c_t =
sum_{s<=t} theta_s - theta_0``, ``dt = -log(0.005) / c_T`` and ``sigma_bar_t = (10 / 255)
sqrt(1 - exp(-2 c_t dt))`` (at most 10/255). Here it is written in the DDPM form above with
``abar_t = 1 / (1 + sigma_bar_t^2)``: ``x_t = sqrt(abar_t) (x0 + sigma_bar_t eps)``, the same
state up to a factor ``sqrt(abar_t) >= 0.9992``, so every formula of this module holds
(``noise_to_signal(t)`` is ``sigma_bar_t``). Its largest noise is 10/255: the chain cannot start
from N(0, I), and only light noise can match a step.

>>> s = NoiseSchedule(T=50)
>>> round(float(s.beta(1)), 4), round(float(s.beta(50)), 4)
(0.002, 0.4)
>>> bool(s.abar(50) < 1e-4)
True
"""

from __future__ import annotations

import math

import torch

KINDS = ("ddpm", "eedtp")
#: EEDTP's schedule: the largest noise level (10/255) and the final decay ``eps``
EEDTP_MAX_SIGMA = 10.0 / 255.0
EEDTP_EPS = 0.005

#: DDPM's linear schedule ends for 1000 steps
DDPM_BETA_START = 1e-4
DDPM_BETA_END = 0.02
DDPM_STEPS = 1000


class NoiseSchedule:
    """Betas, alphas and cumulative alphas for steps ``1..T`` (float64 tables).

    Args:
        T: number of diffusion steps (the paper: 50).
        beta_start, beta_end: ends of the linear beta schedule; ``None`` rescales DDPM's
            (1e-4, 0.02 for 1000 steps) to ``T`` steps by ``1000 / T``.
        sigma: ``"beta"`` (``sigma_t^2 = beta_t``) or ``"posterior"``
            (``sigma_t^2 = beta_t (1 - abar_{t-1}) / (1 - abar_t)``).
        kind: ``"ddpm"`` (the linear beta schedule above) or ``"eedtp"`` (the released code's
            schedule, see the module docstring; ``beta_start``/``beta_end`` do not apply).

    >>> e = NoiseSchedule(T=50, kind="eedtp")
    >>> round(e.noise_to_signal(50) * 255, 4)   # 10 sqrt(1 - 0.005^2)
    9.9999
    """

    def __init__(
        self,
        T: int = 50,
        beta_start: float | None = None,
        beta_end: float | None = None,
        sigma: str = "beta",
        kind: str = "ddpm",
    ) -> None:
        if T < 1:
            raise ValueError(f"T must be >= 1, got {T}")
        if kind not in KINDS:
            raise ValueError(f"the schedule kind must be one of {KINDS}, got {kind!r}")
        if kind == "eedtp" and (beta_start is not None or beta_end is not None):
            raise ValueError("beta_start and beta_end do not apply to the 'eedtp' schedule")
        scale = DDPM_STEPS / T
        b0 = DDPM_BETA_START * scale if beta_start is None else float(beta_start)
        b1 = DDPM_BETA_END * scale if beta_end is None else float(beta_end)
        if kind == "ddpm" and not (0.0 < b0 <= b1 < 1.0):
            hint = (f" (DDPM's schedule rescaled to T = {T} steps; below T = 21 set beta_start "
                    "and beta_end explicitly)" if beta_end is None else "")
            raise ValueError(f"need 0 < beta_start <= beta_end < 1, got {b0:g}, {b1:g}{hint}")
        if sigma not in ("beta", "posterior"):
            raise ValueError(f"sigma must be 'beta' or 'posterior', got {sigma!r}")
        self.T = int(T)
        self.kind = kind
        self.sigma_kind = sigma
        if kind == "eedtp":
            self.abars = 1.0 / (1.0 + eedtp_sigma_bars(self.T) ** 2)
            self.alphas = torch.cat([torch.ones(1, dtype=torch.float64),
                                     self.abars[1:] / self.abars[:-1]])
            self.betas = 1.0 - self.alphas
            return
        betas = torch.linspace(b0, b1, T, dtype=torch.float64) if T > 1 else torch.tensor(
            [b0], dtype=torch.float64)
        # index 0 holds t = 0 (beta 0, abar 1), so tables are indexed by t directly
        self.betas = torch.cat([torch.zeros(1, dtype=torch.float64), betas])
        self.alphas = 1.0 - self.betas
        self.abars = torch.cumprod(self.alphas, 0)

    # ------------------------------------------------------------------ tables
    def _check(self, t: torch.Tensor | int) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.long).cpu()
        if t.numel() and (int(t.min()) < 0 or int(t.max()) > self.T):
            raise ValueError(f"time steps must lie in 0..{self.T}, got {t.tolist()}")
        return t

    def beta(self, t: torch.Tensor | int) -> torch.Tensor:
        """``beta_t`` (float64)."""
        return self.betas[self._check(t)]

    def alpha(self, t: torch.Tensor | int) -> torch.Tensor:
        """``alpha_t = 1 - beta_t`` (float64)."""
        return self.alphas[self._check(t)]

    def abar(self, t: torch.Tensor | int) -> torch.Tensor:
        """``abar_t = prod_{s<=t} alpha_s`` (float64; ``abar_0 = 1``)."""
        return self.abars[self._check(t)]

    def sigma(self, t: torch.Tensor | int) -> torch.Tensor:
        """Standard deviation of the reverse step's noise at ``t`` (float64)."""
        t = self._check(t)
        if self.sigma_kind == "beta":
            return self.betas[t].sqrt()
        prev = self.abars[(t - 1).clamp(min=0)]
        var = self.betas[t] * (1.0 - prev) / (1.0 - self.abars[t]).clamp(min=1e-20)
        return var.sqrt()

    @staticmethod
    def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """A per-sample (B,) or scalar coefficient shaped to broadcast over ``like`` (B, ...)."""
        v = v.to(device=like.device, dtype=like.dtype)
        if v.dim() == 0:
            return v
        return v.view(-1, *([1] * (like.dim() - 1)))

    # ------------------------------------------------------------------ maths
    def q_sample(
        self, x0: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor
    ) -> torch.Tensor:
        """Forward diffusion: ``sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``.

        >>> s = NoiseSchedule(T=4, beta_start=0.1, beta_end=0.4)
        >>> x0, eps = torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 1, 1)
        >>> torch.allclose(s.q_sample(x0, 2, eps), s.abar(2).sqrt().float() * x0)
        True
        """
        ab = self.abar(t)
        return self._bcast(ab.sqrt(), x0) * x0 + self._bcast((1.0 - ab).sqrt(), x0) * eps

    def predict_x0(
        self, x_t: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor
    ) -> torch.Tensor:
        """One-step clean estimate: ``(x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``."""
        ab = self.abar(t)
        return (x_t - self._bcast((1.0 - ab).sqrt(), x_t) * eps) / self._bcast(ab.sqrt(), x_t)

    def eps_from_x0(
        self, x_t: torch.Tensor, t: torch.Tensor | int, x0: torch.Tensor
    ) -> torch.Tensor:
        """The noise a clean estimate implies: ``(x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t)``."""
        ab = self.abar(t)
        if bool((torch.as_tensor(t) == 0).any()):
            raise ValueError("eps is undefined at t = 0")
        return (x_t - self._bcast(ab.sqrt(), x_t) * x0) / self._bcast((1.0 - ab).sqrt(), x_t)

    def reverse_mean(
        self, x_t: torch.Tensor, t: torch.Tensor | int, eps: torch.Tensor
    ) -> torch.Tensor:
        """Mean of one reverse step (Algorithm 2 line 8 with ``z = 0``):
        ``(x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t)``."""
        t = self._check(t)
        if bool((t == 0).any()):
            raise ValueError("the reverse step needs t >= 1")
        coef = self.beta(t) / (1.0 - self.abar(t)).sqrt()
        return (x_t - self._bcast(coef, x_t) * eps) / self._bcast(self.alpha(t).sqrt(), x_t)

    def reverse_step(
        self,
        x_t: torch.Tensor,
        t: int,
        eps: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One ancestral reverse step ``x_t -> x_{t-1}``; no noise is added at ``t = 1``."""
        mean = self.reverse_mean(x_t, t, eps)
        if t <= 1:
            return mean
        z = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
        return mean + float(self.sigma(t)) * z

    def noise_to_signal(self, t: int) -> float:
        """``sqrt((1 - abar_t) / abar_t)``: the Gaussian noise std, relative to the image, that
        ``x_t / sqrt(abar_t)`` carries (for reading a t_mat as a noise level)."""
        ab = float(self.abar(t))
        return math.sqrt((1.0 - ab) / ab)


def decay_weight(t: torch.Tensor | int | float, rate: float = 0.05) -> torch.Tensor:
    """The paper's Eq. 21 (10): ``w_decay(t) = exp(-a t)``, ``a = 0.05``.

    >>> round(float(decay_weight(20)), 6) == round(math.exp(-1.0), 6)
    True
    """
    return torch.exp(-float(rate) * torch.as_tensor(t, dtype=torch.float32))


def eedtp_sigma_bars(T: int) -> torch.Tensor:
    """EEDTP's ``sigma_bar_t`` for ``t = 0..T`` (float64; ``sigma_bar_0 = 0``), see the module
    docstring."""
    scale = 1000.0 / (T + 1)
    thetas = torch.linspace(scale * 1e-4, scale * 0.02, T + 1, dtype=torch.float64)
    cum = torch.cumsum(thetas, 0) - thetas[0]
    dt = -math.log(EEDTP_EPS) / float(cum[-1])
    return torch.sqrt(EEDTP_MAX_SIGMA**2 * (1.0 - torch.exp(-2.0 * cum * dt)))


def eps_from_output(
    prediction: str, out: torch.Tensor, x_t: torch.Tensor, a: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """``eps_hat`` from a network output: ``out`` (``"eps"``) or ``(x_t - a out) / b``
    (``"x0"``), with per-sample ``a = sqrt(abar_t)``, ``b = sqrt(1 - abar_t)`` (B,)."""
    if prediction == "eps":
        return out
    shape = (-1,) + (1,) * (x_t.dim() - 1)
    a = a.to(x_t).reshape(shape)
    b = b.to(x_t).reshape(shape)
    return (x_t - a * out) / b
