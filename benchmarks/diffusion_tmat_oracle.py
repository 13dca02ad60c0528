"""t_mat on the known case: Gaussian noise of step t*'s level must match t*.

Clean images: 8 x 3 x 32 x 32 pixels drawn from N(0.5, 0.25^2); degraded ``y = x + sigma n``
with ``sigma = sqrt((1 - abar_t*) / abar_t*)`` (the noise-to-signal ratio of step t* of the
default schedule, T = 50); the network is the exact (MMSE) denoiser of that image distribution
(it knows the distribution, not the images or the noise). Prints the step each matching
criterion returns for each t*.

    python benchmarks/diffusion_tmat_oracle.py
"""

from __future__ import annotations

import torch
import torch.nn as nn

from aioir.diffusion.matching import CRITERIA, best_step, distance_curves
from aioir.models.diffusion.schedule import NoiseSchedule


class Wiener(nn.Module):
    """``eps_hat`` of the MMSE estimate ``E[x0 | x_t] = mu + k (x_t - sqrt(abar) mu)``,
    ``k = sqrt(abar) var / (abar var + 1 - abar)`` for pixels ~ N(mu, var)."""

    def __init__(self, mu: float, var: float, T: int = 50) -> None:
        super().__init__()
        self.mu, self.var = mu, var
        self.schedule = NoiseSchedule(T)
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        steps = torch.as_tensor(t).expand(x.shape[0]) if torch.as_tensor(t).dim() == 0 else t
        ab = self.schedule.abar(steps).to(x).view(-1, 1, 1, 1)
        x0 = self.mu + ab.sqrt() * self.var / (ab * self.var + 1 - ab) * (x - ab.sqrt() * self.mu)
        return (x - ab.sqrt() * x0) / (1 - ab).sqrt()

    def eps_prediction(self, out, x_t, t):
        return out


def main() -> None:
    g = torch.Generator().manual_seed(0)
    mu, sd = 0.5, 0.25
    x = mu + sd * torch.randn(8, 3, 32, 32, generator=g, dtype=torch.float64)
    net = Wiener(mu, sd**2)
    criteria = [c for c in CRITERIA if c != "sdedit"]
    print("| t* | sigma | " + " | ".join(f"`{c}`" for c in criteria) + " |")
    print("|--:|--:|" + "--:|" * len(criteria))
    for t_star in (1, 2, 4, 8, 12, 20, 30, 40, 50):
        sigma = net.schedule.noise_to_signal(t_star)
        y = x + sigma * torch.randn(x.shape, generator=g, dtype=torch.float64)
        got = [best_step(distance_curves(net, y, x, criterion=c)) for c in criteria]
        print(f"| {t_star} | {sigma:.4g} | " + " | ".join(str(v) for v in got) + " |")


if __name__ == "__main__":
    main()
