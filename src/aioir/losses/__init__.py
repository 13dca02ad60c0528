"""Auxiliary training losses that some backbones' published recipes add to the reconstruction
loss (for example TransWeather's VGG16 perceptual term), in a registry like the backbones.

The per-task reconstruction losses themselves belong to the strategies; a loss here is a plain
``nn.Module`` ``loss(pred, gt) -> scalar`` with frozen parameters, built by name.

>>> "perceptual" in LOSSES
True
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from aioir.registry import Registry

LOSSES = Registry("loss", package="aioir.losses")


def build(name: str, **options: Any) -> nn.Module:
    """Build the loss registered as ``name`` with ``options``."""
    return LOSSES.build(name, **options)


def names() -> list[str]:
    """Registered loss names."""
    return LOSSES.names()
