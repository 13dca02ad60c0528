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

from aioir.models._registry import MODELS, TEST_OPTIONS, build, names, reduced_options
from aioir.models.pretrained import load_pretrained

__all__ = ["MODELS", "TEST_OPTIONS", "build", "names", "reduced_options", "load_pretrained"]
