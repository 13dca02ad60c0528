"""Mistakes on the newer commands are one line, before any work and before anything is written:
a bench that cannot be run leaves no ``bench.json`` behind to block the corrected command;
``--strategies`` naming nothing, ``train.threads < 1``, impossible diffusion samples and
pre-training options; and ``aioir report`` reads a run whose last metrics line a kill cut short
(as ``train --resume`` does) and names a binary ``metrics.jsonl``."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from aioir.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _one_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    # progress displays (e.g. "report: reading the run folders") are not messages
    lines = [line for line in err.splitlines()
             if not line.startswith(("INFO ", "WARNING ", f"{command}: "))]
    assert len(lines) == 1 and lines[0].startswith(f"aioir {command}: error: "), err
    return lines[0]


def test_a_refused_bench_writes_nothing(tmp_path, reference, capsys):
    out = tmp_path / "bench"
    assert main(["bench", str(reference.cfg_path), "--strategies", "mixed", "--seeds", "1",
                 "--out", str(out)]) == 2  # its config validates on no test images
    assert "validates on no test images" in _one_line(capsys, "bench")
    assert not out.exists()  # no bench.json to block the corrected command


@pytest.mark.parametrize("strategies", ["", ",", " "])
def test_bench_strategies_naming_nothing(tmp_path, reference, capsys, strategies):
    out = tmp_path / "bench"
    assert main(["bench", str(reference.cfg_path), "--strategies", strategies,
                 "--out", str(out)]) == 2
    assert f"--strategies {strategies!r} names no strategy" in _one_line(capsys, "bench")
    assert not out.exists()


def test_negative_threads(tmp_path, reference, capsys):
    run = tmp_path / "run"
    assert main(["train", str(reference.cfg_path), "--out", str(run),
                 "--set", "train.threads=-1"]) == 2
    assert _one_line(capsys, "train").endswith("train.threads must be >= 1 or null, got -1")
    assert not run.exists()


@pytest.mark.parametrize("argv, message", [
    (["--count", "0"], "--count must be >= 1, got 0"),
    (["--count", "-2"], "--count must be >= 1, got -2"),
    (["--size", "0"], "--size must be >= 1 (pixels), got 0"),
    (["--count", "100000", "--size", "4096"],
     # the chain's images and the grid, float32: 2 x 100000 x 3 x 4096^2 x 4 B = 37500 GiB
     "--count 100000 --size 4096 needs 37500.00 GiB for the images alone, over the "),
])
def test_impossible_diffusion_samples(tmp_path, capsys, argv, message):
    out = tmp_path / "s.png"
    assert main(["diffusion", "sample", str(tmp_path / "any.pt"), "--out", str(out), *argv]) == 2
    assert message in _one_line(capsys, "diffusion"), message
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--samples", "-1"], "--samples must be >= 0 (0: none), got -1"),
    (["--importance-batches", "-3"], "--importance-batches must be >= 1"),
])
def test_diffusion_pretrain_options_are_checked_before_training(tmp_path, capsys, argv,
                                                                message):
    run = tmp_path / "run"
    start = time.monotonic()
    assert main(["diffusion", "pretrain", str(CONFIGS / "diffusion" / "embedded_pretrain.yaml"),
                 "--out", str(run), *argv]) == 2
    assert message in _one_line(capsys, "diffusion")
    assert not run.exists() and time.monotonic() - start < 30  # nothing trained


def _run_copy(tmp_path, reference) -> Path:
    run = tmp_path / "run"
    shutil.copytree(reference.run_dir, run)
    return run


def test_report_reads_a_run_whose_last_line_was_cut(tmp_path, reference, capsys, caplog):
    run = _run_copy(tmp_path, reference)
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 9, "loss": 0.1')  # a kill in the middle of a line
    assert main(["report", str(run), "--out", str(tmp_path / "report"), "--no-figures"]) == 0, \
        capsys.readouterr().err
    assert any("cut short" in r.getMessage() and "metrics.jsonl" in r.getMessage()
               for r in caplog.records), caplog.text


def test_report_names_a_binary_metrics_file(tmp_path, reference, capsys):
    run = _run_copy(tmp_path, reference)
    (run / "metrics.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" * 10)
    assert main(["report", str(run), "--out", str(tmp_path / "report"), "--no-figures"]) == 2
    line = _one_line(capsys, "report")
    assert f"{run / 'metrics.jsonl'}: not a text file of JSON records" in line, line
