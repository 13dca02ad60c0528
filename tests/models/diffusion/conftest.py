"""Every test here runs with one torch thread (``one_torch_thread`` in tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def one_thread(one_torch_thread):
    yield
