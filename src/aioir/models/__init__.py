"""Backbones: plain ``nn.Module`` restoration networks in one registry.

Every backbone

* maps a float image batch ``(B, 3, H, W)`` in ``[0, 1]`` to a restored batch of the same shape,
  for any ``H x W`` (it pads internally and crops back, see :mod:`aioir.models.padding`);
* declares ``uem_tap``: the dotted name of the submodule whose output is the last
  full-resolution feature map ``(B, uem_channels, H', W')`` before the output projection
  (``H' >= H``, top-left aligned), where a strategy such as TUR hooks an uncertainty head;
  backbones whose feature is not a BCHW tensor insert a parameter-free ``nn.Identity`` there;
* declares ``uem_channels``;
* knows nothing about tasks or losses.

``TEST_OPTIONS[name]`` holds the reduced-size constructor options used by the contract tests and
the ``*_tiny`` configs (same code, smaller dims and depths).

>>> from aioir import models
>>> net = models.build("tiny_unet")
>>> import torch
>>> net(torch.rand(1, 3, 21, 17)).shape
torch.Size([1, 3, 21, 17])
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from aioir.registry import Registry

MODELS = Registry("model", package="aioir.models")

#: reduced-size constructor options per registered backbone (contract tests, *_tiny configs)
TEST_OPTIONS: dict[str, dict[str, Any]] = {}


def build(name: str, **options: Any) -> nn.Module:
    """Build the backbone registered as ``name`` with constructor ``options``."""
    return MODELS.build(name, **options)


def names() -> list[str]:
    """Registered backbone names."""
    return MODELS.names()


def reduced_options(name: str) -> dict[str, Any]:
    """The reduced-size options of backbone ``name`` (same code, small dims; for tests and
    ``*_tiny`` configs).

    >>> reduced_options("tiny_unet")
    {'width': 8, 'blocks': 1, 'global_tone': True}
    """
    MODELS.get(name)  # imports the backbone modules, which fill TEST_OPTIONS
    return dict(TEST_OPTIONS[name])


def load_pretrained(name: str, path: str, **options: Any) -> nn.Module:
    """Build ``name`` and load the authors' released checkpoint at ``path`` strictly.

    See :mod:`aioir.models.pretrained` for the formats understood.
    """
    from aioir.models.pretrained import load_pretrained as _load

    return _load(name, path, **options)
