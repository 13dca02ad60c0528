"""aioir.files: atomic writes follow the umask, name the file on failure, leave nothing behind;
stale temporaries of dead writers are removed, live ones kept; names become safe paths."""

from __future__ import annotations

import errno
import io
import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from aioir import files
from aioir.checkpoint import save_checkpoint
from aioir.data.io import write_image
from aioir.errors import OutputError


@pytest.fixture
def umask():
    """Set the process umask for one test, restore it afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_checkpoints_images_and_text_follow_the_umask(tmp_path, umask, mask):
    umask(mask)
    expected = 0o666 & ~mask  # what open() gives a new file
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert _mode(plain) == expected  # the reference: a file made by open()
    ckpt = save_checkpoint({"w": torch.ones(2)}, tmp_path / "c" / "step_00000001.pt")
    write_image(tmp_path / "i" / "a.png", np.zeros((4, 4, 3), np.float32))
    text = files.write_text(tmp_path / "t" / "a.yaml", "a: 1\n")
    assert [_mode(p) for p in (ckpt, tmp_path / "i" / "a.png", text)] == [expected] * 3


def test_a_failed_write_names_the_file_and_leaves_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError) as info:
        files.write_bytes(target, b"new", what="results")
    assert str(info.value) == (f"cannot write results {target}: the disk is full (no space left "
                               "on device): free some space or write somewhere else")
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_torch_save_errors_keep_their_os_cause(tmp_path, monkeypatch):
    """torch.save turns a failed write into RuntimeError('unexpected pos'); the OSError that
    caused it is what the user sees."""
    class FullDisk(io.FileIO):  # the disk fills up after 100 bytes
        def write(self, data):
            if self.tell() + len(data) > 100:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(os, "fdopen", lambda fd, mode="r", *a, **k: FullDisk(fd, "wb"))
    path = tmp_path / "ck" / "step_00000002.pt"
    with pytest.raises(OutputError, match=r"cannot write checkpoint .*step_00000002.pt: the "
                                          r"disk is full"):
        save_checkpoint({"w": torch.ones(1000)}, path)
    assert list((tmp_path / "ck").iterdir()) == []


def test_a_read_only_folder_is_named(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(files.tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match=r"cannot write file .*a.txt: the file system is "
                                          "read-only: write somewhere else"):
        files.write_text(tmp_path / "a.txt", "x")


def test_stale_temporaries_of_dead_processes_go_live_ones_stay(tmp_path):
    tag = files._host_tag()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        live = tmp_path / f".step_00000004.pt.k2j4h5g6.{sleeper.pid}-{tag}.tmp"
        stale = tmp_path / f".step_00000002.pt.a1b2c3d4.{dead.pid}-{tag}.tmp"
        other_host_new = tmp_path / f".step_00000006.pt.a1b2c3d4.{dead.pid}-000000.tmp"
        old_untagged = tmp_path / ".step_00000008.pt.q9w8e7r6.tmp"
        new_untagged = tmp_path / ".step_00000010.pt.z9w8e7r6.tmp"
        user_file = tmp_path / "notes.tmp"
        for p in (live, stale, other_host_new, old_untagged, new_untagged, user_file):
            p.write_bytes(b"x")
        hour_ago = time.time() - 3600
        os.utime(old_untagged, (hour_ago, hour_ago))
        removed = files.remove_stale_temporaries(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(p.name for p in removed) == sorted([stale.name, old_untagged.name])
    assert live.exists() and other_host_new.exists() and new_untagged.exists()
    assert user_file.exists()


@pytest.mark.parametrize("name, safe", [
    ("x/../../..", "x_.._.._.."), ("../../etc/passwd", "_.._etc_passwd"), ("..", "_"),
    (".hidden", "hidden"), ("mioir7", "mioir7"), ("a\\b", "a_b"), ("", "_"), ("/abs", "_abs"),
])
def test_path_component_is_one_plain_component(tmp_path, name, safe):
    got = files.path_component(name)
    assert got == safe
    assert (tmp_path / got).resolve().parent == tmp_path.resolve()
