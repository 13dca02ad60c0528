"""The generative objective (Algorithm 1, Eq. 11) and the DDPM sampler (Algorithm 5 l. 10-12).

Pre-training draws, per clean image ``x_0``, a step ``t ~ Uniform{1..T}`` and ``eps ~ N(0, I)``,
forms ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` and minimises
``|| eps - eps_hat(x_t, t) ||^2`` (mean over pixels; the loss weights ``gamma_t`` of Eq. 11 are 1,
DDPM's simple objective). ``eps_hat`` is read from the network's output according to the
wrapper's ``prediction`` option (:meth:`aioir.models.diffusion.network.DiffusionNet.eps_prediction`).

The sampler runs the ancestral chain ``x_T ~ N(0, I)``, ``x_{t-1} = reverse_step(x_t, t)`` down
to ``x_0`` and is used for a visual check of a pre-trained network (``aioir diffusion sample``).

>>> import torch
>>> from aioir.models.diffusion.network import DiffusionNet
>>> _ = torch.manual_seed(0)
>>> net = DiffusionNet(backbone_options={"width": 8}, timesteps=25)
>>> x0 = torch.rand(2, 3, 16, 16)
>>> t, eps = draw_noise(net, x0)
>>> generative_losses(net, x0, t, eps).shape
torch.Size([2])
>>> sample_images(net, 1, 16, generator=torch.Generator().manual_seed(0)).shape
torch.Size([1, 3, 16, 16])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import torch
import torch.nn as nn

from aioir.models.diffusion.schedule import NoiseSchedule
from aioir.progress import progress as progress_bar


def _parts(net: nn.Module) -> tuple[NoiseSchedule, Callable[..., torch.Tensor]]:
    """The noise schedule and ``eps_prediction`` of a diffusion network (``DiffusionNet``, or
    any module with both, such as the tests' exact predictor)."""
    return (cast(NoiseSchedule, net.schedule),
            cast(Callable[..., torch.Tensor], net.eps_prediction))


def draw_noise(net: Any, x0: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``t ~ Uniform{1..T}`` per sample (B,) and ``eps ~ N(0, I)`` shaped like ``x0``."""
    b = x0.shape[0]
    t = torch.randint(1, net.schedule.T + 1, (b,), generator=generator).to(x0.device)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    return t, eps


def generative_losses(
    net: nn.Module,
    x0: torch.Tensor,
    t: torch.Tensor,
    eps: torch.Tensor,
    *,
    overrides: Mapping[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Per-sample ``mean((eps - eps_hat(x_t, t))^2)`` (B,).

    ``overrides`` replaces some of ``net``'s parameters for this forward
    (``torch.func.functional_call``), e.g. detached copies to keep gradients out of them.
    """
    sched, eps_prediction = _parts(net)
    x_t = sched.q_sample(x0, t, eps)
    if overrides:
        from torch.func import functional_call

        out = functional_call(net, dict(overrides), (x_t, t))
    else:
        out = net(x_t, t)
    eps_hat = eps_prediction(out, x_t, t)
    return (eps_hat - eps).pow(2).flatten(1).mean(dim=1)


@torch.no_grad()
def sample_images(
    net: nn.Module,
    count: int,
    size: int,
    *,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """``count`` images of ``size x size`` from the ancestral DDPM chain (B, 3, H, W), unclipped."""
    ref = next(net.parameters())
    sched, eps_prediction = _parts(net)
    x = torch.randn((count, 3, size, size), generator=generator).to(ref.device)
    for t in progress_bar(range(sched.T, 0, -1), total=sched.T, disable=not progress,
                          desc="sample", unit="step"):
        steps = torch.full((count,), t, dtype=torch.long, device=ref.device)
        eps = eps_prediction(net(x, steps), x, steps)
        x = sched.reverse_step(x, t, eps, generator=generator)
    return x
