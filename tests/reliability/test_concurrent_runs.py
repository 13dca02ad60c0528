"""Two ``aioir train`` into one run folder at once: the second is refused with a message naming
the process that holds the folder, and it changes nothing there; once the holder is killed
(SIGKILL: it never released its lock), the folder can be resumed and ends bit-identical to the
uninterrupted run."""

from __future__ import annotations

import pytest

from aioir.cli import main

from .conftest import Child, assert_same_state, final_state, stray_files


def _snapshot(run):
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


@pytest.mark.parametrize("second", [["--resume", "auto"], []], ids=["resume-auto", "fresh"])
def test_a_second_train_into_a_busy_folder_is_refused(tmp_path, reference, capsys, second):
    run = tmp_path / "run"
    cfg = str(reference.cfg_path)
    holder = Child(tmp_path, "pause-at-step", "3", ["train", cfg, "--out", str(run)])
    try:
        holder.wait_ready()
        before = _snapshot(run)
        assert any(k.startswith("checkpoints/step_") for k in before)

        rc = main(["train", cfg, "--out", str(run), *second])
        err = capsys.readouterr().err
        assert rc == 2, err
        assert f"pid {holder.proc.pid}" in err and str(run) in err, err
        assert len(err.strip().splitlines()) == 1, err  # one clear line, no traceback
        assert _snapshot(run) == before  # nothing of the holder's run was touched
    finally:
        holder.kill()

    # the holder died without releasing its lock: the folder is free again
    rc = main(["train", cfg, "--out", str(run), "--resume", "auto"])
    assert rc == 0, capsys.readouterr().err
    assert_same_state(reference.state, final_state(run))
    assert stray_files(run) == []
