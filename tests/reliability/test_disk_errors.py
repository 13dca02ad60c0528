"""A full or read-only disk during ``aioir train``: one line naming the file and the cause, no
partial file left behind, the checkpoints already written intact, and ``--resume auto``
afterwards ends bit-identical to the uninterrupted run."""

from __future__ import annotations

import errno
import io
import os
import stat
import tempfile

import pytest

from aioir.checkpoint import list_checkpoints, load_checkpoint
from aioir.cli import main

from .conftest import Child, assert_same_state, final_state, stray_files


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if not line.startswith("INFO ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


def test_a_file_size_limit_hit_in_the_kernel(tmp_path, reference, capsys):
    """RLIMIT_FSIZE makes the kernel refuse writes beyond 200 kB (EFBIG), as a full disk would:
    the first checkpoint (about 1 MB) fails inside torch.save."""
    run = tmp_path / "run"
    child = Child(tmp_path, "file-size-limit", str(200_000),
                  ["train", str(reference.cfg_path), "--out", str(run)])
    done = child.finish()
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert line.startswith(f"aioir train: error: cannot write checkpoint "
                           f"{run / 'checkpoints' / 'step_00000002.pt'}: the file is larger"), line
    assert "unexpected pos" not in done.stderr
    assert list_checkpoints(run / "checkpoints") == []
    assert stray_files(run) == []

    assert main(["train", str(reference.cfg_path), "--out", str(run), "--resume", "auto"]) == 0
    assert_same_state(reference.state, final_state(run))


def _failing_checkpoint_write(monkeypatch, step: int, code: int, where: str) -> None:
    """The checkpoint of ``step`` fails with ``code``: at creation (``where="create"``, e.g. a
    read-only file system) or after 1000 bytes (``"write"``, a disk that fills up)."""
    import aioir.files as files

    real_mkstemp, real_fdopen, created = files.tempfile.mkstemp, os.fdopen, {}
    name = f".step_{step:08d}.pt."

    class FullDisk(io.FileIO):
        def write(self, data):
            if self.tell() + len(data) > 1000:
                raise OSError(code, os.strerror(code))
            return super().write(data)

    def mkstemp(*args, **kwargs):
        if where == "create" and kwargs.get("prefix") == name:
            raise OSError(code, os.strerror(code), str(kwargs.get("dir")))
        fd, path = real_mkstemp(*args, **kwargs)
        created[fd] = os.path.basename(path)
        return fd, path

    def fdopen(fd, *args, **kwargs):
        if created.get(fd, "").startswith(name):
            return FullDisk(fd, "wb")
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.mark.parametrize("code, where, cause", [
    (errno.ENOSPC, "write", "the disk is full (no space left on device): free some space or "
                            "write somewhere else"),
    (errno.EROFS, "create", "the file system is read-only: write somewhere else"),
    (errno.EACCES, "create", "permission denied: check the folder's permissions"),
], ids=["full", "read-only", "no-permission"])
def test_the_disk_fails_mid_run(tmp_path, reference, capsys, monkeypatch, code, where, cause):
    run = tmp_path / "run"
    _failing_checkpoint_write(monkeypatch, 4, code, where)
    rc = main(["train", str(reference.cfg_path), "--out", str(run)])
    line = _one_error_line(capsys.readouterr().err)
    assert rc == 2
    assert line == (f"aioir train: error: cannot write checkpoint "
                    f"{run / 'checkpoints' / 'step_00000004.pt'}: {cause}"
                    + ("" if code != errno.EACCES else " or write somewhere else"))
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step_00000002.pt"]
    assert load_checkpoint(run / "checkpoints" / "step_00000002.pt")["step"] == 2
    assert stray_files(run) == []

    monkeypatch.undo()
    assert main(["train", str(reference.cfg_path), "--out", str(run), "--resume", "auto"]) == 0
    assert_same_state(reference.state, final_state(run))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root writes into read-only folders; the simulated read-only "
                           "cases above run everywhere")
def test_out_inside_a_read_only_folder(reference, capsys):
    with tempfile.TemporaryDirectory() as d:
        ro = os.path.join(d, "ro")
        os.mkdir(ro)
        os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR)
        try:
            rc = main(["train", str(reference.cfg_path), "--out", os.path.join(ro, "run")])
            line = _one_error_line(capsys.readouterr().err)
            assert rc == 2 and os.listdir(ro) == []
            assert line.startswith("aioir train: error: ") and ro in line, line
            assert "permission denied" in line, line
        finally:
            os.chmod(ro, stat.S_IRWXU)
