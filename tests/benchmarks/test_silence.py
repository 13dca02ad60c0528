"""benchmarks/silence.py (issue 22): the monitor's measure, and the structure of what
``aioir report`` and ``aioir restore`` show a user at a terminal, independent of the machine's
speed: the order of the lines and the counts they show, never their timing."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    path = ROOT / "benchmarks" / "silence.py"
    spec = importlib.util.spec_from_file_location("silence", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


silence = _load()
Chunk = silence.Chunk


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def test_gaps_and_stalls_of_a_recorded_output():
    # a bar drawn at 1 s, redrawn (clock only) at 2, 3 and 4 s, advanced at 9 s, exit at 10 s
    chunks = [Chunk(1.0, "x:   0%|     | 0/2 [00:00<?, ?it/s]"),
              Chunk(2.0, "\rx:   0%|     | 0/2 [00:01<?, ?it/s]"),
              Chunk(3.0, "\rx:   0%|     | 0/2 [00:02<?, ?it/s]"),
              Chunk(4.0, "\rx:   0%|     | 0/2 [00:03<?, ?it/s]"),
              Chunk(9.0, "\rx:  50%|##   | 1/2 [00:08<00:08, 8.00s/it]\n")]
    w = silence.Watch(["cmd"], chunks, 0, 10.0)
    assert [round(g.seconds, 6) for g in w.gaps()] == [1.0, 1.0, 1.0, 1.0, 5.0, 1.0]
    g = w.longest()
    assert (g.seconds, g.start, g.after) == (5.0, 4.0, "x:  50%|##   | 1/2 [00:08<00:08, 8.00s/it]")
    # without new content: from the first drawing (1 s) to the advance (9 s)
    s = w.longest_stall()
    assert (s.seconds, s.start) == (8.0, 1.0)
    assert s.before == "x:   0%|     | 0/2 [00:00<?, ?it/s]"


def test_a_command_under_the_terminal_is_timed_and_its_exit_kept():
    code = "import sys, time; print('a', flush=True); time.sleep(0.6); print('b'); sys.exit(3)"
    w = silence.watch([sys.executable, "-c", code])
    assert w.returncode == 3
    assert silence.visible_lines(w.text()) == ["a", "b"]
    # the pause between the two lines is a gap (the 0.6 s slept, less how late the first line
    # was read on a busy machine: at least half of it)
    assert max(g.seconds for g in w.gaps()[1:-1]) >= 0.3


@pytest.mark.timeout(300)
def test_report_says_it_starts_before_loading_and_reading_runs(tmp_path):
    """The first line comes before the report's modules load (``python -X importtime`` writes
    a line to the same terminal as each import ends: the order, not the time, is asserted)."""
    empty = tmp_path / "no-runs"
    empty.mkdir()
    w = silence.watch([sys.executable, "-X", "importtime", "-m", "aioir", "report", str(empty),
                       "--out", str(tmp_path / "r")], env=_env(), cwd=tmp_path)
    lines = silence.visible_lines(w.text())
    said = [k for k, line in enumerate(lines) if not line.startswith("import time:")]
    loaded = [k for k, line in enumerate(lines)
              if re.match(r"import time:.*\|\s*aioir\.report\b", line)]
    assert w.returncode == 2, lines  # no run folder under it: one line naming it
    assert loaded and said, lines
    assert lines[said[0]].startswith(f"report of {empty}: loading ..."), lines
    assert said[0] < loaded[0], lines  # said before any of aioir.report was imported
    assert "error" in lines[said[-1]] and str(empty) in lines[said[-1]]


@pytest.mark.timeout(300)
def test_restore_of_a_tiled_image_shows_each_row_of_tiles(tmp_path):
    from PIL import Image

    from aioir import models
    from aioir.inference.export import save_exported

    net = models.build("tiny_unet", width=8)
    ckpt = save_exported(net, tmp_path / "net.safetensors", model_name="tiny_unet",
                         options={"width": 8}, tasks=["noise"])
    img = np.random.default_rng(0).integers(0, 256, (100, 130, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "photo.png")
    # windows of 48 with 8 overlapping: a stride of 40, ceil((100-8)/40) = 3 rows and
    # ceil((130-8)/40) = 4 columns, 12 windows. Lines mode (one line per 5 %): what is printed
    # does not depend on how fast the windows go (a live bar skips redraws within 0.1 s)
    w = silence.watch([sys.executable, "-m", "aioir", "restore", str(ckpt), "photo.png",
                       "--out", "out", "--tile", "48", "--overlap", "8"],
                      env=_env(AIOIR_PROGRESS="lines"), cwd=tmp_path)
    lines = silence.visible_lines(w.text())
    assert w.returncode == 0, lines
    assert lines[0].startswith("loading ")
    tiles = [tuple(map(int, m.groups())) for line in lines
             if (m := re.match(r"photo\.png:\s+\d+% (\d+)/(\d+) ", line))]
    counts = [n for n, _ in tiles]
    assert {t for _, t in tiles} == {12}
    assert counts == sorted(counts) and counts[-1] == 12 and len(set(counts)) >= 3, lines
    # the image's name and its windows are named on the image display
    assert any(re.match(r"restore: .*photo\.png: 12 tiles\]$", line) for line in lines), lines
    done = lines.index("restored 1 of 1 image(s) into out")
    assert max(k for k, line in enumerate(lines) if line.startswith("photo.png:")) < done
