"""Atomic checkpoint writes and safe loading."""

import os
import pickle

import pytest
import torch

from aioir import checkpoint as ck


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "step_00000001.pt"
    ck.save_checkpoint({"step": 1, "w": torch.arange(4)}, path)

    real_save = torch.save

    def broken_save(obj, fh, *a, **k):
        fh.write(b"partial garbage")  # a crash halfway through writing
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        ck.save_checkpoint({"step": 2, "w": torch.zeros(4)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    state = ck.load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["w"], torch.arange(4))
    assert sorted(os.listdir(tmp_path)) == ["step_00000001.pt"]  # no temp file left


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_load_refuses_arbitrary_pickles(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"x": _Evil()}, fh)
    with pytest.raises(ValueError, match="cannot load checkpoint"):
        ck.load_checkpoint(path)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "step_00000005.pt"
    ck.save_checkpoint({"w": torch.ones(1000)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"step_00000005.pt"):
        ck.load_checkpoint(path)


def test_latest_and_prune(tmp_path):
    for s in (3, 10, 7):
        ck.save_checkpoint({"step": s}, ck.checkpoint_path(tmp_path, s))
    (tmp_path / "notes.txt").write_text("x")
    assert ck.latest_checkpoint(tmp_path).name == "step_00000010.pt"
    ck.prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == ["step_00000007.pt", "step_00000010.pt"]
    assert ck.latest_checkpoint(tmp_path / "missing") is None
