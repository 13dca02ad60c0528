"""Shared fixtures for the degradation tests: small deterministic images."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def photo() -> np.ndarray:
    """A 48x40 float32 crop of scikit-image's astronaut photograph (a natural image)."""
    from skimage import data

    return (data.astronaut()[100:196:2, 160:240:2].astype(np.float32) / 255.0).copy()
