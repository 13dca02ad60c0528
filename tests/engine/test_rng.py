"""Random states across machines: a checkpoint written with more GPUs than the resuming machine
has (an 8-GPU node resumed on a 1-GPU workstation) restores the devices that exist."""

from __future__ import annotations

import pytest
import torch

from aioir.engine.rng import restore_rng_state


def test_cuda_states_of_more_gpus_than_visible_restore_the_visible_ones(monkeypatch):
    calls: list[tuple[int, int]] = []

    def set_one(state: torch.Tensor, device: int = 0) -> None:  # a machine with one GPU
        if int(device) >= 1:
            raise RuntimeError("CUDA error: invalid device ordinal")
        calls.append((int(state[0]), int(device)))

    def set_all(states) -> None:  # torch's: one call per state, whatever the device count
        for i, s in enumerate(states):
            set_one(s, i)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", set_one)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", set_all)
    state = {"torch": torch.get_rng_state(),
             "cuda": [torch.full((4,), 7, dtype=torch.uint8), torch.full((4,), 9, dtype=torch.uint8)]}
    restore_rng_state(state)
    assert calls == [(7, 0)]  # GPU 0 gets GPU 0's state; the absent GPU 1 is skipped


@pytest.mark.parametrize("saved", [None, []])
def test_a_checkpoint_without_cuda_states_leaves_cuda_alone(monkeypatch, saved):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda *a: pytest.fail("touched CUDA"))
    state = {"torch": torch.get_rng_state()}
    if saved is not None:
        state["cuda"] = saved
    restore_rng_state(state)
