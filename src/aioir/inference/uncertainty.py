"""TUR's uncertainty map at inference, from a training checkpoint that kept the head.

A TUR (or UE) run trains an uncertainty head on the backbone's tapped feature
(:mod:`aioir.strategies.uem`); the deployed network is the plain backbone, but the training
checkpoint holds the head in its strategy state. :func:`load_uncertainty_head` rebuilds the
run's strategy from the checkpoint's config, lets it attach to the backbone (which creates the
head for the backbone's ``uem_channels``), loads its state and returns the head, or None when
the strategy has no such head (mixed, Art) or the file is an export. :func:`with_uncertainty`
turns the backbone into a window function returning the restored image and the map as a fourth
channel (the head's channels averaged), so tiling, batching and the flip ensemble treat both
alike.

>>> import torch
>>> from aioir import models
>>> from aioir.strategies.uem import UncertaintyHead
>>> net = models.build("tiny_unet", width=8).eval()
>>> fn = with_uncertainty(net, UncertaintyHead(net.uem_channels))
>>> y = fn(torch.rand(2, 3, 13, 10))
>>> tuple(y.shape), bool((y[:, 3] > 0).all())
((2, 4, 13, 10), True)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from aioir import strategies
from aioir.checkpoint import load_training_checkpoint
from aioir.models.hooks import hooks


def load_uncertainty_head(path: str | Path, model: nn.Module) -> nn.Module | None:
    """The uncertainty head kept in the training checkpoint ``path`` for ``model``, or None.

    ``model`` must be the checkpoint's backbone (the head's width comes from it); it is not
    modified (the strategy's hook is removed again).
    """
    path = Path(path)
    if path.suffix != ".pt":
        return None
    ck = load_training_checkpoint(path)  # format and fields checked, the file named
    if not ck.get("strategy"):
        return None
    scfg = ck["config"].get("strategy") or {}
    options = dict(scfg.get("options") or {})
    strategy = strategies.build(scfg["name"], len(ck["task_names"]), **options)
    try:
        strategy.attach(model)
    except ValueError:  # the backbone declares no tap: no head can exist
        return None
    try:
        strategy.load_state_dict(ck["strategy"], strict=True)
    finally:
        strategy.detach()
    head = getattr(strategy, "uem", None)
    return head.eval() if isinstance(head, nn.Module) else None


def with_uncertainty(model: nn.Module, head: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> cat(model(x), mean over channels of head(tap))``: ``(B, 4, H, W)``."""
    name = hooks(model).uem_tap
    if name is None:
        raise ValueError(f"{type(model).__name__} has no uncertainty tap (uem_tap): an "
                         "uncertainty head cannot be attached to it")
    tap = model.get_submodule(name)
    captured: dict[str, Any] = {}

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        captured["feat"] = output

    @torch.no_grad()
    def fn(x: torch.Tensor) -> torch.Tensor:
        handle = tap.register_forward_hook(hook)
        try:
            y = model(x)
        finally:
            handle.remove()
        feat = captured.pop("feat")
        h, w = y.shape[-2:]
        u = head(feat)[..., :h, :w].mean(dim=1, keepdim=True)
        return torch.cat([y, u.to(y.dtype)], dim=1)

    return fn


def head_border(head: nn.Module) -> int:
    """How many pixels at each side of an uncertainty map are computed from the zero padding of
    the head's convolutions (the sum of their paddings; 3 for TUR's three 3 x 3 convolutions).

    The head pads its input with zeros, which a real feature never holds: there the map is an
    artefact of the padding, several times the interior's value (measured on a demo TUR run:
    6 to 8x the interior median on the outermost row and column, 2 to 4x on the next). Shown
    maps leave this border out, and a colour range is taken from the map without it.

    >>> from aioir.strategies.uem import UncertaintyHead
    >>> head_border(UncertaintyHead(8))
    3
    """
    total = 0
    for module in head.modules():
        if isinstance(module, nn.Conv2d) and module.padding_mode == "zeros":
            pad = module.padding
            total += max(pad) if isinstance(pad, tuple) else 0
    return int(total)
