"""The backbone registry (:data:`MODELS`) and its reduced-size test options; re-exported by
:mod:`aioir.models`, imported directly by the modules the package face imports
(:mod:`~aioir.models.pretrained`, :mod:`~aioir.models.guard`) so that none of them imports the
package face back."""

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
