"""The activation-memory measurement kept on disk: a second Restorer of the same network (a new
process, here a cleared in-process cache) reads it instead of measuring; a damaged entry is
measured again and rewritten; other options are another entry; ``aioir restore`` the second
time spends a fraction of the first call's time measuring."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from aioir import models
from aioir.inference import memory_cache
from aioir.inference import restore as restore_mod
from aioir.inference.restore import Restorer


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty cache folder and no measurement kept in this process; counts calibrations."""
    monkeypatch.setenv("AIOIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(restore_mod, "_CALIBRATED", {})
    calls = []
    real = restore_mod.calibrate

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(restore_mod, "calibrate", counting)
    return tmp_path / "cache" / "memory", calls


def _restorer(width: int = 8, **network) -> Restorer:
    torch.manual_seed(0)
    net = models.build("tiny_unet", width=width)
    return Restorer(net, max_memory=2**30,
                    network={"model": "tiny_unet", "options": {"width": width}, **network})


def test_the_second_restorer_reads_the_measurement(fresh, monkeypatch):
    folder, calls = fresh
    first = _restorer().cost
    assert len(calls) == 1 and len(list(folder.glob("*.json"))) == 1
    monkeypatch.setattr(restore_mod, "_CALIBRATED", {})  # as in a new process
    again = _restorer()
    assert again.cost == first and again.cost_source == "disk" and len(calls) == 1


def test_a_damaged_entry_is_measured_again_and_rewritten(fresh, monkeypatch):
    folder, calls = fresh
    first = _restorer().cost
    (entry,) = folder.glob("*.json")
    for damaged in ("{not json", json.dumps({"format": 1, "key": entry.stem, "cost": {
            "constant": 0, "per_pixel": "nan", "quadratic": 0, "points": 3}}), ""):
        entry.write_text(damaged)
        monkeypatch.setattr(restore_mod, "_CALIBRATED", {})
        r = _restorer()
        assert r.cost == first and r.cost_source == "measured"
        assert json.loads(entry.read_text())["cost"]["per_pixel"] == first.per_pixel
    assert len(calls) == 4


def test_other_options_or_another_network_are_other_entries(fresh):
    folder, calls = fresh
    _ = _restorer().cost
    _ = _restorer(pad="other").cost  # same tensors, other build options: measured again
    _ = _restorer(width=12).cost
    assert len(calls) == 3 and len(list(folder.glob("*.json"))) == 3


def test_cache_off_and_the_default_folders(fresh, monkeypatch, tmp_path):
    folder, _ = fresh
    monkeypatch.setenv("AIOIR_CACHE_DIR", "off")
    _ = _restorer().cost
    assert memory_cache.cache_dir() is None and not folder.exists()
    monkeypatch.delenv("AIOIR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert memory_cache.cache_dir() == tmp_path / "xdg" / "aioir"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert memory_cache.cache_dir() == tmp_path / "home" / ".cache" / "aioir"


def test_an_unwritable_cache_costs_only_the_measurement(fresh, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("AIOIR_CACHE_DIR", str(blocker))  # a file: no folder can be made in it
    assert _restorer().cost.per_pixel > 0


def test_second_restore_spends_under_a_fifth_of_the_first_measuring(fresh, tmp_path,
                                                                     monkeypatch, capsys):
    import numpy as np
    from PIL import Image

    from aioir.cli import main
    from aioir.inference.export import save_exported

    torch.manual_seed(0)
    opts = models.reduced_options("nafnet")
    path = save_exported(models.build("nafnet", **opts), tmp_path / "n.safetensors",
                         model_name="nafnet", options=opts, tasks=[])
    Image.fromarray(np.zeros((128, 160, 3), np.uint8)).save(tmp_path / "x.png")
    seconds = []
    for k in range(2):
        monkeypatch.setattr(restore_mod, "_CALIBRATED", {})  # each call as a new process
        assert main(["restore", str(path), str(tmp_path / "x.png"), "--out",
                     str(tmp_path / f"o{k}"), "--device", "cpu"]) == 0
        out = capsys.readouterr().out
        m = re.search(r"window \((measured|kept from an earlier run), ([0-9.]+) s\)", out)
        seconds.append((m.group(1), float(m.group(2))))
    assert seconds[0][0] == "measured" and seconds[1][0] == "kept from an earlier run"
    assert seconds[1][1] < 0.2 * seconds[0][1] and math.isfinite(seconds[0][1])
