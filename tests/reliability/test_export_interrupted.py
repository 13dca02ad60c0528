"""``aioir export`` killed while it writes, or on a full disk: SIGTERM removes its temporary file
at once and exits 143; after SIGKILL the next export into the folder removes what the killed
one left; a file-size limit (as a full disk) is one line naming the target, for TorchScript too
(``torch.jit.save`` used to abort in C++ with "unexpected pos"), and leaves nothing."""

from __future__ import annotations

import signal

import pytest

from aioir.cli import main

from .conftest import Child


def _checkpoint(reference):
    return str(reference.run_dir / "checkpoints" / "step_00000008.pt")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_an_export_killed_mid_write_leaves_nothing_after_the_next(tmp_path, reference, capsys,
                                                                    sig):
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "model.safetensors"
    child = Child(tmp_path, "stop-at-fsync", str(folder),
                  ["export", _checkpoint(reference), "--out", str(out)])
    child.wait_ready()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")], "no temporary to kill"
    child.proc.send_signal(sig)
    done = child.finish(timeout=60)
    if sig == signal.SIGTERM:  # stopped as Ctrl-C: the temporary goes at once
        assert done.returncode == 143, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        assert list(folder.iterdir()) == []
    assert not out.exists()

    assert main(["export", _checkpoint(reference), "--out", str(out)]) == 0
    capsys.readouterr()
    assert [p.name for p in folder.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize("fmt, name", [("torchscript", "model.ts"),
                                       ("safetensors", "model.safetensors")])
def test_an_export_on_a_full_disk_is_one_line_naming_the_target(tmp_path, reference, fmt, name):
    """RLIMIT_FSIZE: every write beyond 20 kB fails in the kernel (EFBIG), as on a full disk."""
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / name
    child = Child(tmp_path, "file-size-limit", "20000",
                  ["export", _checkpoint(reference), "--out", str(out), "--format", fmt])
    done = child.finish(timeout=120)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("INFO ")]
    assert lines == [f"aioir export: error: cannot write exported model {out}: the file is "
                     f"larger than this process or file system allows (a file-size limit, "
                     f"ulimit -f): raise the limit or write somewhere else"], done.stderr
    assert list(folder.iterdir()) == []
