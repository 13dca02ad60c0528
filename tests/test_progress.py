"""The progress helper: live bar on a terminal, a line every few percent elsewhere."""

from __future__ import annotations

import io
import re

import pytest

from aioir import progress as progress_mod
from aioir.progress import ENV, LineProgress, progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _auto_mode(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def _counts(text: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(r"(\d+)/\d+ \[", text)]


def test_non_tty_prints_one_line_every_five_percent():
    out = io.StringIO()
    bar = progress(total=1000, desc="train", unit="step", file=out)
    assert isinstance(bar, LineProgress)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    # 5 % of 1000 = 50 steps: lines at 50, 100, ..., 1000 and none at the other 980 steps
    assert _counts(out.getvalue()) == list(range(50, 1001, 50))
    assert len(lines) == 20
    assert "\r" not in out.getvalue()
    assert lines[-1].startswith("train: 100% 1000/1000 [")


def test_resumed_bar_counts_from_initial_and_close_prints_the_last_state():
    out = io.StringIO()
    bar = progress(total=200, initial=100, desc="x", file=out)
    for _ in range(15):  # 100 -> 115: crosses 55 % at 110
        bar.update(1)
    bar.set_postfix_str("loss 0.1")
    bar.close()
    bar.close()  # idempotent
    assert _counts(out.getvalue()) == [110, 115]
    assert out.getvalue().splitlines()[-1].endswith(", loss 0.1]")


def test_heartbeat_line_when_progress_is_slow(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress_mod, "_clock", lambda: now[0])
    out = io.StringIO()
    bar = progress(total=10_000, file=out, every_seconds=30)
    for _ in range(3):  # 0.03 % done each time, 31 s apart: below 5 %, so only heartbeats
        now[0] += 31.0
        bar.update(1)
    bar.update(1)  # no time passed: no line
    assert _counts(out.getvalue()) == [1, 2, 3]


def test_unknown_total_prints_on_heartbeat_and_close(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress_mod, "_clock", lambda: now[0])
    out = io.StringIO()
    bar = progress(desc="read", unit="img", file=out, every_seconds=10)
    for _ in range(5):
        now[0] += 4.0
        bar.update(1)  # lines at 12 s (3 images) only
    bar.close()
    assert out.getvalue().splitlines() == ["read: 3img [00:12,  4.00s/img]",
                                           "read: 5img [00:20,  4.00s/img]"]


def test_iterating_yields_every_item_and_reports():
    out = io.StringIO()
    items = list(progress(range(40), desc="eval", file=out, every_percent=50))
    assert items == list(range(40))
    assert _counts(out.getvalue()) == [20, 40]


def test_tty_gets_the_live_tqdm_bar():
    from tqdm import tqdm

    out = FakeTTY()
    bar = progress(total=10, desc="live", file=out)
    assert isinstance(bar, tqdm)
    bar.update(10)
    bar.close()
    assert "\r" in out.getvalue()


def test_environment_overrides_and_disable(monkeypatch):
    from tqdm import tqdm

    monkeypatch.setenv(ENV, "lines")
    assert isinstance(progress(total=3, file=FakeTTY()), LineProgress)
    monkeypatch.setenv(ENV, "bar")
    assert isinstance(progress(total=3, file=io.StringIO()), tqdm)
    out = io.StringIO()
    monkeypatch.setenv(ENV, "off")
    bar = progress(total=3, file=out)
    bar.update(3)
    bar.close()
    monkeypatch.delenv(ENV)
    quiet = progress(total=3, file=out, disable=True)
    quiet.update(3)
    quiet.close()
    assert out.getvalue() == ""
    monkeypatch.setenv(ENV, "sometimes")
    with pytest.raises(ValueError, match="AIOIR_PROGRESS='sometimes'"):
        progress(total=3, file=out)


def test_every_progress_display_of_the_package_goes_through_the_helper():
    from pathlib import Path

    import aioir

    root = Path(aioir.__file__).parent
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if re.search(r"^\s*(from tqdm|import tqdm)", p.read_text(), re.M))
    assert users == ["progress.py"]


def test_paused_time_leaves_a_live_bar_s_rate(monkeypatch):
    """tqdm's bar: 10 steps in 10 s around a 500 s pause read 1 step/s, not 10 per 510 s."""
    from aioir.progress import paused

    monkeypatch.setenv(ENV, "bar")
    now = [0.0]
    bar = progress(total=20, desc="t", unit="step", file=FakeTTY())
    bar._time = lambda: now[0]
    bar.start_t = bar.last_print_t = 0.0
    for i in range(10):
        now[0] += 1.0
        bar.update(1)
        if i == 4:
            with paused(bar):
                now[0] += 500.0
    assert bar.format_dict["elapsed"] == pytest.approx(10.0)
    assert bar.format_dict["n"] / bar.format_dict["elapsed"] == pytest.approx(1.0)
    bar.close()


def test_a_live_bar_is_redrawn_while_one_slow_item_runs_but_not_when_paused_or_closed():
    """Issue 22: a bar whose count stays (one whole-photo forward) still moves its clock."""
    import time

    from aioir.progress import paused

    out = FakeTTY()
    bar = progress(total=3, desc="slow", file=out, heartbeat=0.05)
    bar.update(1)
    drawn = out.getvalue().count("\r")
    deadline = time.monotonic() + 20
    while out.getvalue().count("\r") < drawn + 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert out.getvalue().count("\r") >= drawn + 2  # redrawn twice with no update
    assert bar.n == 1 and "1/3" in out.getvalue().rsplit("\r", 1)[-1]
    with paused(bar):  # validation inside training: the training bar holds still
        time.sleep(0.15)  # a beat already under way when the pause began has landed
        before = out.getvalue()
        time.sleep(0.3)
        assert out.getvalue() == before
    bar.close()
    closed = out.getvalue()
    time.sleep(0.2)
    assert out.getvalue() == closed


def test_delay_keeps_quick_work_silent_in_lines(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress_mod, "_clock", lambda: now[0])
    quick, slow = io.StringIO(), io.StringIO()
    bar = progress(total=4, desc="tiles", file=quick, delay=2.0, every_percent=25)
    for _ in range(4):
        now[0] += 0.4
        bar.update(1)
    bar.close()
    assert quick.getvalue() == ""  # done in 1.6 s < 2 s
    now[0] = 0.0
    bar = progress(total=4, desc="tiles", file=slow, delay=2.0, every_percent=25)
    for _ in range(4):
        now[0] += 1.0
        bar.update(1)
    bar.close()
    assert _counts(slow.getvalue()) == [2, 3, 4]  # from 2 s on


def test_working_runs_a_clock_until_the_next_display_takes_over():
    """Issue 22: a step with nothing to count (building a run) shows a moving clock on a
    terminal, and stops where a counted display (the training bar) opens."""
    import time

    from aioir.progress import working

    out = FakeTTY()
    with working("building the run", file=out, heartbeat=0.05):
        deadline = time.monotonic() + 20
        while out.getvalue().count("\r") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert out.getvalue().count("\r") >= 3  # drawn, then redrawn with no update
        assert out.getvalue().rsplit("\r", 1)[-1].startswith("building the run ... 00:0")
        bar = progress(total=2, desc="train", file=out, heartbeat=None)
        taken_over = out.getvalue()
        assert taken_over.count("building the run") >= 1 and "train:" in taken_over
        time.sleep(0.2)  # the clock stopped: only the bar writes from now on
        assert "building" not in out.getvalue()[len(taken_over):]
        bar.close()
    assert out.getvalue().count("\n") >= 2  # the step's line stays above the bar's
