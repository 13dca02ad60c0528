"""Shared pieces of the diffusion tests: one torch thread per test (these tests run many tiny
forwards, where a second OpenMP thread on a shared 2-core machine costs far more than it gives),
and the exact noise predictor of a one-image data distribution."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from aioir.diffusion.schedule import NoiseSchedule


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Oracle(nn.Module):
    """The exact noise predictor for a data distribution that is one image ``c``:
    ``eps(x_t, t) = (x_t - sqrt(abar_t) c) / sqrt(1 - abar_t)``."""

    def __init__(self, c: torch.Tensor, T: int = 50) -> None:
        super().__init__()
        self.c = c
        self.schedule = NoiseSchedule(T)
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, t=None):
        return self.schedule.eps_from_x0(x, t, self.c.expand_as(x))

    def eps_prediction(self, out, x_t, t):
        return out


@pytest.fixture
def oracle():
    return Oracle
