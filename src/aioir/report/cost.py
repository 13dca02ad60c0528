"""What a method's deployed network costs: parameters, multiply-accumulates and CPU latency.

The network is the one ``aioir restore`` runs (the run's latest checkpoint, EMA weights when the
run evaluated them); the training-only parts of a strategy (TUR's uncertainty head) are not in
it. MACs are counted with :class:`torch.utils.flop_counter.FlopCounterMode` on one forward pass
of a ``size x size`` RGB image (FLOPs / 2: the counter counts a multiply-accumulate of a
convolution or matrix product as 2 FLOPs; element-wise operations are not counted, as in the
papers' tables). Latency: the median of ``repeats`` forward passes after one warm-up, on the CPU
with the threads torch has at report time, under ``torch.inference_mode``.

>>> import torch
>>> net = torch.nn.Conv2d(3, 8, 3, padding=1)
>>> c = network_cost(net, size=16, repeats=1)
>>> c.params, c.macs  # 8*3*9 + 8 parameters; 16*16 pixels * 8 outputs * 27 taps
(224, 55296)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from aioir.inference.reader import load_network

__all__ = ["Cost", "network_cost", "run_cost", "COST_SIZE", "COST_STEPS", "REPEATS"]

#: side of the square image the MACs and latency are measured on
COST_SIZE = 256
#: timed forward passes (the median is reported)
REPEATS = 5
#: ``on_step`` calls of :func:`run_cost`: the load, the counted pass, the warm-up and each timed
#: pass (a progress display)
COST_STEPS = 3 + REPEATS


@dataclass(frozen=True)
class Cost:
    """Parameters, MACs and median latency (ms) of one forward pass at ``size`` x ``size``."""

    params: int
    macs: int
    latency_ms: float
    size: int
    threads: int

    def cells(self) -> list[str]:
        """``["1.23 M", "4.56 G", "78.9"]``: the report table's cells."""
        return [f"{self.params / 1e6:.3g} M", f"{self.macs / 1e9:.3g} G", f"{self.latency_ms:.3g}"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def network_cost(model: Any, size: int = COST_SIZE, repeats: int = REPEATS,
                 on_step: Callable[[], Any] | None = None) -> Cost:
    """:class:`Cost` of ``model`` (an ``nn.Module`` mapping a ``(1, 3, H, W)`` image to an
    image) on a random ``size x size`` input: one counted pass (which warms up too), one more
    warm-up, ``repeats`` timed passes; ``on_step()`` after each."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    def tick() -> None:
        if on_step is not None:
            on_step()

    model = model.eval()
    params = sum(p.numel() for p in model.parameters())
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        counter = FlopCounterMode(display=False)
        with counter:
            model(x)
        flops = counter.get_total_flops()
        tick()
        model(x)
        tick()
        times = []
        for _ in range(max(repeats, 1)):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
            tick()
    times.sort()
    return Cost(int(params), int(flops // 2), 1000.0 * times[len(times) // 2], size,
                torch.get_num_threads())


def run_cost(run: Any, size: int = COST_SIZE, repeats: int = REPEATS,
             on_step: Callable[[], Any] | None = None) -> Cost:
    """:class:`Cost` of the network in ``run``'s latest checkpoint (as evaluated: EMA weights
    when ``val.use_ema``); ``on_step()`` after the load and after each pass."""
    if run.checkpoint is None:
        raise FileNotFoundError(f"{run.path} has no checkpoint (checkpoints/step_*.pt)")
    use_ema = bool((run.config.get("val") or {}).get("use_ema", True))
    model, _ = load_network(run.checkpoint, use_ema=use_ema)
    if on_step is not None:
        on_step()
    return network_cost(model, size, repeats, on_step)
