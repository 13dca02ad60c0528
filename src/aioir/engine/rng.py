"""Capture and restore the global random states a training run touches.

Data randomness does not live here: sample ``i`` is a pure function of ``(seed, i)``. What remains
is torch's global generator (weight init, dropout, drop-path) and CUDA's.

>>> import torch
>>> s = capture_rng_state()
>>> a = torch.rand(3)
>>> restore_rng_state(s)
>>> bool(torch.equal(a, torch.rand(3)))
True
"""

from __future__ import annotations

from typing import Any

import torch


def capture_rng_state() -> dict[str, Any]:
    """torch CPU (and CUDA, when available) generator states."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`capture_rng_state` captured."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # a checkpoint of a machine with more GPUs (8-GPU node -> 1-GPU workstation): restore
        # the devices this machine has (torch's set_rng_state_all would fail on the others)
        for index, cuda_state in enumerate(list(state["cuda"])[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)
