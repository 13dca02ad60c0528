"""Process-group context for the training loop.

:class:`SingleProcess` is the one-process case: every collective is the identity. The
``torch.distributed`` implementation lives beside it and has the same interface.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
import torch.nn as nn

from aioir.engine.ddp import TorchDistributed


class SingleProcess:
    """No process group: rank 0 of 1."""

    rank = 0
    world_size = 1
    is_main = True
    device: torch.device | None = None
    #: DDP's unused-parameter search (set by the Trainer); nothing to search with one process
    find_unused_parameters = False

    def wrap(self, module: nn.Module) -> nn.Module:
        return module

    def configure_strategy(self, strategy: Any) -> None:
        """Nothing to reduce with one process."""

    def no_sync(self, module: nn.Module):
        return nullcontext()

    def barrier(self) -> None:
        """Nothing to wait for."""

    def all_true(self, flag: bool) -> bool:
        """True when ``flag`` is true on every rank."""
        return flag

    def any_true(self, flag: bool) -> bool:
        """True when ``flag`` is true on some rank."""
        return flag

    def shutdown(self) -> None:
        """Nothing to tear down."""


def from_environment(device: str = "auto") -> SingleProcess | TorchDistributed:
    """The process context this process was launched in (torchrun sets ``WORLD_SIZE``)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return TorchDistributed.from_environment(device)
    return SingleProcess()
