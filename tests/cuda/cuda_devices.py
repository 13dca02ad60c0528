"""Device parametrisation for the GPU tests: every test body runs on ``cpu`` (here, in CI) and
on ``cuda`` (marked ``cuda``; skipped with the reason where no GPU is visible).

``pytest -m cuda`` selects the CUDA variants alone (benchmarks/gpu/run.sh runs them on a lent
GPU); a plain ``pytest`` runs the CPU variants and reports the CUDA ones as skipped.
"""

from __future__ import annotations

import pytest
import torch

NO_GPU = "needs a CUDA GPU: torch.cuda.is_available() is False on this machine"

#: marks for a test (or a parameter) that needs a GPU
CUDA_MARKS = (pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU))


def cuda_param(*values, id: str | None = None):  # pytest's name
    """One ``pytest.param`` carrying the CUDA marks."""
    return pytest.param(*values, marks=CUDA_MARKS, id=id)


#: the device parameter of every test here
DEVICES = [pytest.param("cpu", id="cpu"), cuda_param("cuda", id="cuda")]
