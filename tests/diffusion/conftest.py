"""One torch thread per test: these tests run many tiny forwards, where a second OpenMP thread
on a shared 2-core machine costs far more than it gives."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
