"""Exponential moving average of a model's weights (BasicSR-style ``net_g_ema``).

>>> import torch
>>> net = torch.nn.Linear(1, 1, bias=False)
>>> with torch.no_grad():
...     _ = net.weight.fill_(0.0)
>>> ema = ModelEMA(net, decay=0.9)
>>> with torch.no_grad():
...     _ = net.weight.fill_(1.0)
>>> ema.update(net)
>>> round(float(ema.module.weight), 6)   # 0.9 * 0 + 0.1 * 1
0.1
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


class ModelEMA:
    """Keeps ``ema = decay * ema + (1 - decay) * weights`` after each optimizer step.

    Floating-point parameters and buffers are averaged; integer buffers are copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the current weights of ``model`` into the average."""
        ema_state = self.module.state_dict()
        for name, value in model.state_dict().items():
            target = ema_state[name]
            if target.dtype.is_floating_point:
                target.mul_(self.decay).add_(value.detach(), alpha=1.0 - self.decay)
            else:
                target.copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
