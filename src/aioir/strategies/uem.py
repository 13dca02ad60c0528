"""The Uncertainty Estimation Module (UEM) and the hook that feeds it.

:class:`UncertaintyHead` is TUR's training-only head (FACTS section 1, the authors' code):
``Conv3x3(C->C) + ELU, Conv3x3(C->C) + ELU, Conv3x3(C->3) + Softplus``. Initialisation (option
``init``): ``"torch"`` (default) scales PyTorch's default weights and biases by 0.1;
``"kaiming"`` is the authors' SRResNet initialisation (BasicSR ``default_init_weights(m, 0.1)``):
Kaiming-normal weights (fan-in, ReLU gain) times 0.1 and zero biases. Softplus keeps the map
strictly positive (an ELU output could go negative and make ``log`` NaN).

Start level (option ``head_start``, off by default so the paper's recipe stays the paper's):
``"init"`` leaves the initialised head as it is (its map starts near ``softplus(0) = 0.69``);
``"error"`` shifts the head's output bias once, at the first training step, so that the map's
mean starts at the optimum of the strategy's loss for that batch (for ``rho(e)/U + w log U``:
``U = mean rho(e) / w``; :meth:`UncertaintyStrategy.optimum_uncertainty`). Why: Adam moves each
parameter by about the learning rate per step, so a head that starts at 0.69 spends the first
part of a short run only lowering its level (docs/benchmarks.md, "TUR's head at small budgets").

:class:`UncertaintyStrategy` is the shared base of ``tur`` and ``ue``: ``attach(model)`` creates
the head for ``model.uem_channels`` and registers a forward hook on ``model.uem_tap`` that stores
the tapped feature; ``forward`` turns the stored feature into a map cropped to the prediction's
size (top-left: backbones pad at the bottom/right) and clears it. The model's own parameters,
buffers and output are untouched, and :meth:`~UncertaintyStrategy.detach` removes the hook.

>>> head = UncertaintyHead(64)
>>> sum(p.numel() for p in head.parameters())
75587
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
import torch.nn as nn

from aioir.models.hooks import hooks
from aioir.strategies.base import Strategy
from aioir.strategies.functional import CHARBONNIER_EPS

#: scale applied to the head's initial weights (and, for ``init="torch"``, biases)
INIT_SCALE = 0.1
#: the head's initialisations (option ``init`` / the strategies' ``head_init``)
HEAD_INITS = ("torch", "kaiming")
#: where the head's output level starts (the strategies' ``head_start``)
HEAD_STARTS = ("init", "error")


def inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """``x`` with ``softplus(x) = y`` (``y > 0``).

    >>> import torch
    >>> round(float(torch.nn.functional.softplus(inverse_softplus(torch.tensor(0.02)))), 6)
    0.02
    """
    return y + torch.log(-torch.expm1(-y))


class UncertaintyHead(nn.Sequential):
    """Three 3x3 convolutions mapping a feature map to a positive per-pixel uncertainty map.

    Initialisation draws from torch's global RNG (seed it for a reproducible run). ``init="torch"``:
    PyTorch's default conv initialisation, then every weight and bias is multiplied by
    :data:`INIT_SCALE`. ``init="kaiming"``: ``kaiming_normal_`` weights (fan-in, gain sqrt(2))
    multiplied by :data:`INIT_SCALE`, zero biases (the authors' SRResNet initialisation).

    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> u = UncertaintyHead(8)(torch.randn(2, 8, 5, 6))
    >>> tuple(u.shape), bool((u > 0).all())
    ((2, 3, 5, 6), True)
    """

    def __init__(self, in_channels: int, out_channels: int = 3, init: str = "torch") -> None:
        if init not in HEAD_INITS:
            raise ValueError(f"head init must be one of {HEAD_INITS}, got {init!r}")
        c = in_channels
        super().__init__(
            nn.Conv2d(c, c, 3, padding=1),
            nn.ELU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ELU(),
            nn.Conv2d(c, out_channels, 3, padding=1),
            nn.Softplus(),
        )
        with torch.no_grad():
            for conv in (m for m in self if isinstance(m, nn.Conv2d)):  # layers 0, 2 and 4
                assert conv.bias is not None  # built with biases
                if init == "kaiming":
                    nn.init.kaiming_normal_(conv.weight)
                    conv.bias.zero_()
                else:
                    conv.bias.mul_(INIT_SCALE)
                conv.weight.mul_(INIT_SCALE)


class _TapHook:
    """Forward hook storing the tapped output on its strategy (held by weak reference).

    A deep copy of the model (an EMA copy, say) gets an inert hook: the copy never writes into the
    strategy, and does not drag a copy of the strategy along.
    """

    def __init__(self, strategy: UncertaintyStrategy | None) -> None:
        self._ref = weakref.ref(strategy) if strategy is not None else None

    def __call__(self, module: nn.Module, inputs: Any, output: Any) -> None:
        strategy = self._ref() if self._ref is not None else None
        if strategy is not None:
            strategy._capture(output)

    def __deepcopy__(self, memo: dict[int, Any]) -> _TapHook:
        return _TapHook(None)


class UncertaintyStrategy(Strategy):
    """Base for strategies whose loss uses a UEM map computed from a tapped model feature.

    The tap is captured only while autograd is enabled (training forwards), so evaluation under
    ``torch.no_grad()`` holds no feature in memory; the stored feature is released as soon as
    :meth:`uncertainty` reads it.
    """

    head_started: torch.Tensor
    uem: UncertaintyHead | None  # registered as a submodule once attach() knows the channels
    log_weight: float  # the regulariser's weight, set by each strategy

    def __init__(
        self,
        num_tasks: int,
        out_channels: int = 3,
        head_init: str = "torch",
        loss: str = "l1",
        charbonnier_eps: float = CHARBONNIER_EPS,
        head_start: str = "init",
    ) -> None:
        super().__init__(num_tasks, loss, charbonnier_eps)
        if head_init not in HEAD_INITS:
            raise ValueError(f"head_init must be one of {HEAD_INITS}, got {head_init!r}")
        if head_start not in HEAD_STARTS:
            raise ValueError(f"head_start must be one of {HEAD_STARTS}, got {head_start!r}")
        self.out_channels = out_channels
        self.head_init = head_init
        self.head_start = head_start
        if head_start == "error":  # saved with the head: a resumed run does not start it again
            self.register_buffer("head_started", torch.zeros((), dtype=torch.bool))
        self.register_module("uem", None)
        self._handle: Any = None
        self._tap: torch.Tensor | None = None

    def attach(self, model: nn.Module) -> None:
        """Create the UEM for ``model.uem_channels`` and hook ``model.uem_tap``.

        A UEM that already exists with the right width is kept (re-attaching after a resume keeps
        its trained weights); otherwise a new one is drawn from torch's global RNG on the device
        and dtype of the model's parameters.
        """
        if self._handle is not None:
            who = self.name or type(self).__name__
            raise RuntimeError(f"{who} is already attached; detach() first")

        found = hooks(model)
        tap_name, channels = found.uem_tap, found.uem_channels
        if not tap_name or channels is None:
            raise ValueError(
                f"{type(model).__name__} declares no uem_tap/uem_channels; "
                "an uncertainty strategy needs both"
            )
        module = model.get_submodule(tap_name)
        uem = self.uem
        if not isinstance(uem, UncertaintyHead) or uem[0].in_channels != channels:
            ref = next(model.parameters(), None)
            uem = UncertaintyHead(int(channels), self.out_channels, self.head_init)
            if ref is not None:
                uem = uem.to(device=ref.device, dtype=ref.dtype)
            self.uem = uem
        self._handle = module.register_forward_hook(_TapHook(self))

    def _capture(self, output: Any) -> None:
        if torch.is_grad_enabled():
            if not isinstance(output, torch.Tensor) or output.dim() != 4:
                raise TypeError(
                    f"the uem_tap output must be a (B, C, H, W) tensor, got {type(output).__name__}"
                )
            self._tap = output

    def detach(self) -> None:
        """Remove the hook and drop any stored feature (the UEM weights are kept)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._tap = None

    def optimum_uncertainty(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """The map level that minimises this strategy's loss on ``(pred, gt)`` for a constant
        map: ``mean rho(e) / log_weight`` for ``rho(e) / U + log_weight * log U`` (TUR's authors'
        form, UE). Strategies with another regulariser override it. Used by
        ``head_start: error``."""
        return self.per_sample(pred, gt).detach().mean() / self.log_weight

    def _start_head(self, feat: torch.Tensor, target: torch.Tensor) -> None:
        """Shift the head's output bias so that its mean map on ``feat`` is ``target`` (exact for
        a constant pre-activation; the initialised head's is nearly constant). Means over all
        ranks, so every rank applies the same shift."""
        if self.uem is None:
            raise RuntimeError("the uncertainty head is made by attach(); call it first")
        with torch.no_grad():
            u = self.uem(feat)
            sums = self.all_reduce_sum(torch.stack([
                u.float().sum(), u.new_tensor(u.numel(), dtype=torch.float32), target.float()]))
            mean_u, level = sums[0] / sums[1], sums[2] / self.world_size
            last = self.uem[4]
            assert isinstance(last, nn.Conv2d) and last.bias is not None  # the output conv
            last.bias += (inverse_softplus(level) - inverse_softplus(mean_u)).to(last.bias.dtype)
            self.head_started.fill_(True)

    def uncertainty(self, pred: torch.Tensor, gt: torch.Tensor | None = None) -> torch.Tensor:
        """The UEM map for the last captured feature, cropped to ``pred``'s H x W (top-left).

        Clears the stored feature. Raises a clear error if no feature was captured. With
        ``head_start: error``, the first call with ``gt`` (the first training step) first moves
        the head's output level to :meth:`optimum_uncertainty` of ``(pred, gt)``.
        """
        feat, self._tap = self._tap, None
        if feat is None or self.uem is None:
            raise RuntimeError(
                f"{self.name or type(self).__name__}: no tapped feature. Call "
                "strategy.attach(model) once, then run model(lq) with autograd enabled before "
                "strategy(pred, gt, task_id)"
            )
        h, w = pred.shape[-2:]
        if feat.shape[0] != pred.shape[0] or feat.shape[-2] < h or feat.shape[-1] < w:
            raise ValueError(
                f"tapped feature {tuple(feat.shape)} does not cover pred {tuple(pred.shape)}"
            )
        if gt is not None and self.head_start == "error" and not bool(self.head_started):
            self._start_head(feat, self.optimum_uncertainty(pred, gt))
        return self.uem(feat)[..., :h, :w]
