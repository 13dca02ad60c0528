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
import weakref

import torch
import torch.nn as nn


class ModelEMA:
    """Keeps ``ema = decay * ema + (1 - decay) * weights`` after each optimizer step.

    Floating-point parameters and buffers are averaged; integer buffers are copied (the entries
    of ``state_dict``: non-persistent buffers are left alone). The update runs as two fused
    ``torch._foreach`` calls over the parameters, as fast as a hand-written loop.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        params = {name for name, _ in self.module.named_parameters()}
        #: persistent buffers (state_dict entries that are not parameters)
        self._buffer_keys = [k for k in self.module.state_dict() if k not in params]
        self._source: weakref.ref[nn.Module] | None = None
        self._params: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])

    def _pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(EMA tensors, model tensors) in ``state_dict`` order.

        The parameter lists are made on the first update and kept for that model (a Parameter
        stays the same object through ``load_state_dict`` and in-place updates; the module walk
        costs more than the averaging on small networks). Buffers are looked up every time:
        ``module.to()`` replaces buffer tensors.
        """
        if self._source is None or self._source() is not model:
            self._params = (list(self.module.parameters()), list(model.parameters()))
            self._source = weakref.ref(model)
        dst, src = list(self._params[0]), list(self._params[1])
        if self._buffer_keys:
            ema_buffers, buffers = dict(self.module.named_buffers()), dict(model.named_buffers())
            dst += [ema_buffers[k] for k in self._buffer_keys]
            src += [buffers[k] for k in self._buffer_keys]
        if len(dst) != len(src):
            raise ValueError(f"{type(model).__name__} has {len(src)} tensors to average, the "
                             f"EMA copy {len(dst)}: not the model the EMA was made from")
        return dst, src

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Blend the current weights of ``model`` into the average."""
        dst, src = self._pairs(model)
        blend = [(d, s.detach()) for d, s in zip(dst, src) if d.dtype.is_floating_point]
        if blend:
            ema_t, new_t = [d for d, _ in blend], [s for _, s in blend]
            torch._foreach_mul_(ema_t, self.decay)
            torch._foreach_add_(ema_t, new_t, alpha=1.0 - self.decay)
        for d, s in zip(dst, src):
            if not d.dtype.is_floating_point:
                d.copy_(s)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
