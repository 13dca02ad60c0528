"""Time conditioning for any backbone: which blocks, the embedding of t, and FiLM heads.

The paper makes the restoration network a function ``r_theta(x, t)``. aioir does that without
editing the backbone: a sinusoidal embedding of ``t`` goes through a small MLP, and one zero-
initialised linear head per *conditioned block* turns it into a per-channel ``(scale, shift)``
applied to that block's output by a forward hook, ``y = out * (1 + scale) + shift`` (FiLM, as the
DDPM/ADM U-Nets condition their residual blocks). At initialisation every head outputs exactly
zero, so the wrapped network computes exactly the plain backbone.

Which blocks (:func:`find_blocks`):

1. the wrapper's option ``blocks`` (dotted submodule names), else
2. the backbone's own ``time_blocks`` attribute when it declares one, else
3. the automatic rule: walk the module tree from the backbone's top-level children in order; a
   submodule is a block when it has parameters, runs exactly once per forward, and returns a
   ``(B, C, H, W)`` tensor whose ``C`` differs from the image's channel count (a feature map, not
   an output image); a submodule that is not a block is searched the same way one level down.
   Blocks are ordered by when they run, which defines "shallow" (the first ones) and "deep".

The rule is decided once, on two probe forwards at construction (fixed, non-random 2-image
batches of two different sizes, in eval mode under ``no_grad``); ``C`` must be the same at both
sizes, which rules out channel-last ``(B, H, W, C)`` outputs whose dimension 1 is a height. It
needs no knowledge of any backbone's names. For ``tiny_unet`` it finds
``head, enc1, down1, enc2, down2, middle, up2, dec2, up1, dec1``.

>>> import torch
>>> e = sinusoidal_embedding(torch.tensor([0, 3]), 4)
>>> e[0].tolist()                # sin(0), sin(0), cos(0), cos(0)
[0.0, 0.0, 1.0, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer/DDPM sinusoidal embedding of integer steps ``t`` (B,) -> (B, dim).

    ``emb[:, k] = sin(t * f_k)`` and ``emb[:, half + k] = cos(t * f_k)`` with
    ``f_k = max_period ** (-k / half)``, ``half = dim // 2`` (an odd ``dim`` gets a zero column).
    """
    if dim < 2:
        raise ValueError(f"embedding dim must be >= 2, got {dim}")
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=t.device)
    freqs = torch.exp(-math.log(max_period) * k / half)
    args = t.float().reshape(-1, 1) * freqs.reshape(1, -1)
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2:
        emb = torch.cat([emb, emb.new_zeros(emb.shape[0], 1)], dim=1)
    return emb


class TimeEmbedding(nn.Module):
    """``t -> MLP(sinusoidal(t))``: Linear(D, D) - SiLU - Linear(D, D) (the shared time MLP)."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.dim = int(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        first = self.mlp[0]
        assert isinstance(first, nn.Linear)
        ref = first.weight
        return self.mlp(sinusoidal_embedding(t, self.dim).to(device=ref.device, dtype=ref.dtype))


class FiLMHead(nn.Module):
    """SiLU - Linear(D, 2C), zero-initialised: one block's ``(scale, shift)``, both 0 at init."""

    def __init__(self, embed_dim: int, channels: int) -> None:
        super().__init__()
        self.channels = int(channels)
        self.proj = nn.Linear(embed_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, emb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, shift = self.proj(nn.functional.silu(emb)).chunk(2, dim=1)
        return scale, shift

    @staticmethod
    def modulate(out: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """``out * (1 + scale) + shift`` with per-sample, per-channel ``scale``/``shift`` (B, C)."""
        return out * (1.0 + scale[:, :, None, None]) + shift[:, :, None, None]


@dataclass(frozen=True)
class Block:
    """A conditioned block: dotted submodule name, output channels, position in forward order."""

    name: str
    channels: int
    order: int


def probe_input(channels: int = 3, size: int = 32, batch: int = 2) -> torch.Tensor:
    """The fixed, non-random probe batch (a smooth ramp per image), values in [0, 1]."""
    n = batch * channels * size * size
    ramp = torch.linspace(0.0, 1.0, n).reshape(batch, channels, size, size)
    return 0.25 + 0.5 * ramp


def _probe(model: nn.Module, x: torch.Tensor) -> dict[str, list[Any]]:
    """Run ``model(x)`` once and record, per submodule, the output of every call (shape or
    type name) in call order, plus a global call counter to order them."""
    calls: dict[str, list[Any]] = {}
    counter = [0]
    handles = []
    for name, module in model.named_modules():
        if not name:
            continue

        def hook(mod: nn.Module, inputs: Any, output: Any, name: str = name) -> None:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output)
            calls.setdefault(name, []).append((counter[0], shape))
            counter[0] += 1

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return calls


def _block_shape(probes: list[dict[str, list[Any]]], name: str, batch: int
                 ) -> tuple[int, int] | None:
    """``(channels, call index in the first probe)`` when the calls recorded for ``name`` make
    a block in every probe (once, 4-D, the batch first, the same ``C``), else None."""
    found = None
    for calls in probes:
        seen = calls.get(name)
        if not seen or len(seen) != 1:
            return None
        order, shape = seen[0]
        if not isinstance(shape, tuple) or len(shape) != 4 or shape[0] != batch:
            return None
        if found is not None and found[0] != int(shape[1]):
            return None
        found = found or (int(shape[1]), int(order))
    return found


def find_blocks(
    model: nn.Module,
    names: Sequence[str] | None = None,
    *,
    image_channels: int = 3,
    probe_sizes: Sequence[int] = (16, 40),
) -> list[Block]:
    """The conditioned blocks of ``model``, in forward order (see the module docstring).

    ``names`` (or ``model.time_blocks``) fixes the blocks; each must then run once per forward
    and return a ``(B, C, H, W)`` tensor, or a ``ValueError`` names it.
    """
    batch = 2
    ref = next(model.parameters(), None)
    probes = []
    for size in probe_sizes:
        x = probe_input(image_channels, size, batch)
        if ref is not None:
            x = x.to(device=ref.device, dtype=ref.dtype)
        probes.append(_probe(model, x))
    declared = list(names) if names is not None else getattr(model, "time_blocks", None)
    found: list[tuple[int, str, int]] = []
    if declared is not None:
        for name in declared:
            try:
                model.get_submodule(name)
            except AttributeError as exc:
                raise ValueError(f"time-conditioned block {name!r} is not a submodule of "
                                 f"{type(model).__name__}") from exc
            info = _block_shape(probes, name, batch)
            if info is None:
                raise ValueError(
                    f"time-conditioned block {name!r} must run exactly once per forward and "
                    f"return a (B, C, H, W) tensor; the probes saw "
                    f"{[p.get(name) for p in probes]}"
                )
            found.append((info[1], name, info[0]))
    else:
        def visit(module: nn.Module, prefix: str) -> None:
            for child_name, child in module.named_children():
                full = f"{prefix}{child_name}"
                info = _block_shape(probes, full, batch)
                has_params = next(child.parameters(), None) is not None
                if info is not None and has_params and info[0] != image_channels:
                    found.append((info[1], full, info[0]))
                elif has_params:
                    visit(child, full + ".")

        visit(model, "")
    if not found:
        raise ValueError(
            f"no block of {type(model).__name__} returns a (B, C, H, W) feature map once per "
            "forward; name the blocks to condition with model.options.blocks"
        )
    found.sort()
    return [Block(name, channels, i) for i, (_, name, channels) in enumerate(found)]
