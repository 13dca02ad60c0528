"""SIGKILL at random moments of ``aioir train`` (between steps, inside a checkpoint write,
between the write and its rename), then ``--resume auto``: the final checkpoint equals the
uninterrupted run's bit for bit, the metrics log holds every step once, and no temporary or
lock file is left behind.

The moments are drawn from ``AIOIR_RELIABILITY_SEED`` (default 16); set it to explore others.
"""

from __future__ import annotations

import json
import os
import random

import pytest

from aioir.cli import main

from .conftest import STEPS, Child, assert_same_state, final_state, stray_files

SEED = int(os.environ.get("AIOIR_RELIABILITY_SEED", "16"))
_rng = random.Random(SEED)
CHECKPOINTS = STEPS // 2  # checkpoint_every = 2
KILLS = [
    ("pause-at-step", str(_rng.randint(1, STEPS - 1))),
    ("cut-checkpoint", f"{_rng.randint(1, CHECKPOINTS)}:{_rng.uniform(0.02, 0.98):.3f}"),
    ("before-rename", str(_rng.randint(1, CHECKPOINTS))),
]


@pytest.mark.parametrize("mode, arg", KILLS, ids=[f"{m}={a}" for m, a in KILLS])
def test_sigkill_then_resume_auto_is_bit_identical(tmp_path, reference, capsys, mode, arg):
    run = tmp_path / "run"
    child = Child(tmp_path, mode, arg, ["train", str(reference.cfg_path), "--out", str(run)])
    what = child.wait_ready()
    child.kill()
    left = [p.name for p in (run / "checkpoints").glob(".*.tmp")]
    if mode != "pause-at-step":  # the kill left a temporary checkpoint file behind
        assert left, f"{what}: no temporary file to clean up"

    rc = main(["train", str(reference.cfg_path), "--out", str(run), "--resume", "auto"])
    err = capsys.readouterr().err
    assert rc == 0, err

    assert_same_state(reference.state, final_state(run))
    assert stray_files(run) == [], f"killed at {what}"
    logged = [json.loads(line)["step"] for line in
              (run / "metrics.jsonl").read_text().splitlines() if "loss" in json.loads(line)]
    assert logged == list(range(1, STEPS + 1)), f"killed at {what}"
