"""LPIPS is optional: without the package the error says how to get it."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from aioir.metrics import LpipsUnavailableError, lpips_distance, perceptual


def test_missing_package_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lpips", None)  # makes `import lpips` raise ImportError
    monkeypatch.setattr(perceptual, "_MODELS", {})
    with pytest.raises(LpipsUnavailableError) as err:
        lpips_distance(np.zeros((16, 16, 3)), np.zeros((16, 16, 3)))
    message = str(err.value)
    assert "pip install -e '.[lpips]'" in message and "offline" in message
    assert isinstance(err.value.__cause__, ImportError)


def test_missing_weights_give_the_same_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeLpipsModule:  # the package is present but its backbone weights cannot be fetched
        @staticmethod
        def LPIPS(net: str, verbose: bool) -> None:  # mirrors the package's API
            raise OSError("no network: cannot download alexnet-owt-7be5be79.pth")

    monkeypatch.setitem(sys.modules, "lpips", FakeLpipsModule)
    monkeypatch.setattr(perceptual, "_MODELS", {})
    with pytest.raises(LpipsUnavailableError, match=r"alexnet-owt.*pip install -e '\.\[lpips\]'"):
        lpips_distance(np.zeros((16, 16, 3)), np.zeros((16, 16, 3)))
