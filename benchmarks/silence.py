"""The longest silent gap of a command's output, as a user at a terminal sees it (issue 22).

A command runs under a pseudo-terminal (so progress bars draw live, as for a user); every chunk
of its output is timestamped, and the longest time without output (including from the start to
the first chunk and from the last chunk to the exit) is reported with the last line before it and
the first line after it: the phase that sat silent. The exit status is 1 when a gap exceeds
``--threshold`` seconds (or the command failed).

One command::

    python benchmarks/silence.py [--threshold 5] -- aioir report aioir-demo

The README's paths at small sizes (what docs/benchmarks.md "Silent phases" reports; one command,
about 10 minutes on 2 idle cores)::

    python benchmarks/silence.py --suite /tmp/silence --update-md docs/benchmarks.md

runs ``aioir demo --quick``, ``aioir train`` (``configs/models/srresnet_tiny.yaml`` on the
embedded photos, 30 steps), then on the demo's results
``aioir eval`` (the run's validation sets), ``aioir restore`` of a 2000 x 1500 photo (tiled by
the memory budget) and ``aioir report``.

>>> w = Watch(["x"], [Chunk(0.5, "loading ...\\n"), Chunk(7.0, "\\rtrain:  10% 1/10")], 0, 7.5)
>>> g = w.longest()
>>> round(g.seconds, 1), g.before, g.after
(6.5, 'loading ...', 'train:  10% 1/10')
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import os
import platform
import pty
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: ANSI escape sequences (tqdm moves the cursor and clears lines with them)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]")


@dataclass
class Chunk:
    """Output read at ``t`` seconds after the start."""

    t: float
    text: str


@dataclass
class Gap:
    """``seconds`` without output, starting ``start`` s into the run, between two lines."""

    seconds: float
    start: float
    before: str
    after: str


def visible_lines(text: str) -> list[str]:
    """The lines a terminal would show for ``text``, one per carriage return or newline,
    escape sequences removed, blank ones dropped.

    >>> visible_lines("a\\rb 10%\\x1b[A\\n\\nc")
    ['a', 'b 10%', 'c']
    """
    return [s.strip() for s in re.split(r"[\r\n]+", _ANSI.sub("", text)) if s.strip()]


#: what changes on a display that is only redrawn: clock times, ETA, rates
_TIMES = re.compile(r"\d+:\d\d(?::\d\d)?|[<?]|[\d.]+\s*(?:s/\w+|\w+/s)|\w+/s")


def content(line: str) -> str:
    """``line`` without its clock: elapsed and remaining times and rates removed, so that a
    bar redrawn without progress reads the same.

    >>> content("x:  10%|#  | 1/10 [00:21<05:26, 21.79s/chunk]")
    'x: 10%/# / 1/10 [ , ]'
    >>> content("x:  10%|#  | 1/10 [00:22<?, ?chunk/s]") == content("x:  10%|#  | 1/10 [00:21<05:26, 21.79s/chunk]")
    True
    """
    return " ".join(_TIMES.sub(" ", line).replace("|", "/").split())


@dataclass
class Watch:
    """A command's output chunks, its exit status and its wall time."""

    command: Sequence[str]
    chunks: list[Chunk]
    returncode: int
    seconds: float
    #: ``uptime``'s load averages (1, 5, 15 min) when the command ended ("" unless recorded)
    load: str = ""

    def gaps(self) -> list[Gap]:
        """Every interval without output: start -> first chunk, between chunks, last -> exit."""
        return _intervals(self.chunks, self.seconds)

    def longest(self) -> Gap:
        """The longest silent gap."""
        return max(self.gaps(), key=lambda g: g.seconds)

    def stalls(self) -> list[Gap]:
        """Every interval without new content: a chunk counts only when it shows a line (clock
        removed, :func:`content`) never shown before, so a bar that is redrawn (its elapsed time
        moving) while its count stays is one stall."""
        seen: set[str] = set()
        moving = []
        for c in self.chunks:
            new = {content(line) for line in visible_lines(c.text)} - seen
            if new:
                seen |= new
                moving.append(c)
        return _intervals(moving, self.seconds)

    def longest_stall(self) -> Gap:
        """The longest interval without new content."""
        return max(self.stalls(), key=lambda g: g.seconds)

    def text(self) -> str:
        """Everything the command printed."""
        return "".join(c.text for c in self.chunks)


def _intervals(chunks: Sequence[Chunk], end: float) -> list[Gap]:
    times = [0.0] + [c.t for c in chunks] + [end]
    texts = [""] + [c.text for c in chunks] + [""]
    out = []
    for k in range(1, len(times)):
        before = _last_visible(texts[:k])
        after = _first_visible(texts[k:]) if k < len(times) - 1 else "(exit)"
        out.append(Gap(times[k] - times[k - 1], times[k - 1], before or "(start)", after))
    return out


def _last_visible(texts: Sequence[str]) -> str:
    for text in reversed(texts):
        lines = visible_lines(text)
        if lines:
            return lines[-1]
    return ""


def _first_visible(texts: Sequence[str]) -> str:
    for text in texts:
        lines = visible_lines(text)
        if lines:
            return lines[0]
    return ""


def watch(command: Sequence[str], *, env: dict[str, str] | None = None,
          cwd: str | os.PathLike[str] | None = None, columns: int = 100,
          timeout: float | None = None, echo: bool = False) -> Watch:
    """Run ``command`` with stdin, stdout and stderr on a pseudo-terminal ``columns`` wide and
    timestamp every chunk it writes (``echo``: copy the output to this process's stdout too).
    ``timeout``: kill it after so many seconds (return code -9)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    full_env = dict(os.environ if env is None else env)
    full_env.update(COLUMNS=str(columns), LINES="40")
    full_env.setdefault("TERM", "xterm")
    t0 = time.monotonic()
    proc = subprocess.Popen(list(command), stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                            env=full_env, close_fds=True, start_new_session=True)
    os.close(slave)
    chunks: list[Chunk] = []
    try:
        while True:
            wait = 1.0
            if timeout is not None:
                left = timeout - (time.monotonic() - t0)
                if left <= 0:
                    proc.kill()
                    break
                wait = min(wait, left)
            ready, _, _ = select.select([master], [], [], wait)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError as exc:  # EIO: every writer closed the terminal
                if exc.errno == errno.EIO:
                    break
                raise
            if not data:
                break
            text = data.decode("utf-8", "replace")
            chunks.append(Chunk(time.monotonic() - t0, text))
            if echo:
                sys.stdout.write(text)
                sys.stdout.flush()
    finally:
        os.close(master)
    returncode = proc.wait()
    return Watch(list(command), chunks, returncode, time.monotonic() - t0)


def describe(name: str, w: Watch) -> str:
    """One block naming the longest silence and the longest stall, and their phases."""
    g, s = w.longest(), w.longest_stall()
    return (f"{name}: exit {w.returncode}, {w.seconds:.1f} s, {len(w.chunks)} chunks\n"
            f"  longest silence {g.seconds:.1f} s at {g.start:.1f} s\n    after:  "
            f"{g.before[:110]}\n    before: {g.after[:110]}\n"
            f"  longest without new content {s.seconds:.1f} s at {s.start:.1f} s\n    after:  "
            f"{s.before[:110]}\n    before: {s.after[:110]}")


def timeline(w: Watch) -> str:
    """One line per chunk: seconds since the start, then what it shows (lines joined by
    `` / ``).

    >>> print(timeline(Watch(["x"], [Chunk(0.25, "a\\nb"), Chunk(1.5, "\\rc")], 0, 2.0)), end="")
        0.25  a / b
        1.50  c
        2.00  (exit 0)
    """
    rows = [f"{c.t:8.2f}  {' / '.join(visible_lines(c.text))}" for c in w.chunks]
    rows.append(f"{w.seconds:8.2f}  (exit {w.returncode})")
    return "\n".join(rows) + "\n"


# ------------------------------------------------------------------ the README's paths, small


def _photo(path: Path, width: int = 2000, height: int = 1500) -> None:
    """A ``width x height`` photograph made from scikit-image's astronaut, upscaled."""
    import numpy as np
    from PIL import Image
    from skimage import data

    img = Image.fromarray(np.asarray(data.astronaut()))
    img.resize((width, height), Image.Resampling.BICUBIC).save(path)


def _suite(work: Path, threshold: float) -> list[tuple[str, list[str], Watch]]:
    """Run the README's commands at small sizes in ``work`` (a new folder per call beside the
    demo's); [(name, command, watch)]. Each command's timeline is written beside its output."""
    work.mkdir(parents=True, exist_ok=True)
    aioir = [sys.executable, "-m", "aioir"]
    here = work / time.strftime("%Y%m%d-%H%M%S")
    here.mkdir()
    demo = here / "demo"
    done: list[tuple[str, list[str], Watch]] = []

    def step(name: str, cmd: list[str]) -> Watch:
        print(f"\n$ {shlex.join(cmd)}", flush=True)
        w = watch(cmd, cwd=here)
        w.load = _load()  # the load average when it ended (other work on the machine)
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        (here / f"{slug}.timeline").write_text(timeline(w), encoding="utf-8")
        print(describe(name, w), flush=True)
        done.append((name, cmd, w))
        return w

    step("demo --quick", aioir + ["demo", "--quick", "--out", str(demo)])
    runs = sorted(p.parent for p in demo.rglob("config.yaml") if (p.parent / "checkpoints").is_dir())
    if not runs:
        raise SystemExit(f"no run folder with checkpoints under {demo}")
    run = runs[0]
    ckpt = max((run / "checkpoints").glob("*.pt"))
    # a shipped config on the embedded photos (a demo run's own config.yaml has
    # train.progress false: its display was the demo's)
    config = Path(__file__).resolve().parents[1] / "configs" / "models" / "srresnet_tiny.yaml"
    step("train (30 steps)", aioir + ["train", str(config), "--steps", "30",
                                      "--out", str(here / "train")])
    step("eval (validation sets)", aioir + ["eval", str(ckpt), "--out", str(here / "eval")])
    photos = here / "photos"
    photos.mkdir()
    _photo(photos / "photo_2000x1500.png")
    step("eval --photos (2000x1500, tiled)", aioir + [
        "eval", str(ckpt), "--photos", str(photos), "--tile", "512", "--out", str(here / "eval")])
    step("restore 2000x1500", aioir + ["restore", str(ckpt), str(photos / "photo_2000x1500.png"),
                                       "--out", str(here / "restored")])
    step("report", aioir + ["report", str(demo), "--out", str(here / "report")])
    return done


def _short(args: Sequence[str]) -> str:
    """The arguments with their folders left out (``.../demo/runs/x.pt`` -> ``x.pt``)."""
    return " ".join(Path(a).name if os.sep in a else a for a in args)


def _cell(text: str) -> str:
    """A line in a table cell: absolute paths by their last part, 60 characters at most.

    >>> _cell("results written to /tmp/s/20261207/eval/photos.json (PSNR/SSIM)")
    '`results written to photos.json (PSNR/SSIM)`'
    """
    text = re.sub(r"(?<![\w.])(?:/[^\s/]+)+/?", lambda m: Path(m.group()).name, text)
    return "`" + text[:60].replace("|", "/").replace("`", "'") + "`"


def _cpu() -> str:
    """The processor's model name (Linux), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _load() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _markdown(done: list[tuple[str, list[str], Watch]], load_before: str, load_after: str,
              threshold: float) -> str:
    import torch

    lines = [("| command | wall (s) | longest silence (s) | after the line | longest without "
              "new content (s) | after the line | load at its end |"),
             "|---|---:|---:|---|---:|---|---|"]
    for _name, cmd, w in done:
        g, s = w.longest(), w.longest_stall()
        cells = [f"`aioir {_short(cmd[3:])}`", f"{w.seconds:.0f}",
                 f"{g.seconds:.1f}" + (" **over**" if g.seconds > threshold else ""),
                 _cell(g.before), f"{s.seconds:.1f}", _cell(s.before), w.load]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"{_cpu()}, {os.cpu_count()} CPU cores, Python "
                 f"{platform.python_version()}, torch {torch.__version__}; load average "
                 f"(1, 5, 15 min) {load_before} before, {load_after} after; "
                 f"threshold {threshold:g} s.")
    return "\n".join(lines) + "\n"


#: the lines around the table in the docs (``--update-md``)
MARK_BEGIN, MARK_END = "<!-- silence:table -->\n", "<!-- /silence:table -->"


def replace_table(text: str, table: str, where: object = "the file") -> str:
    r"""``text`` with the body between :data:`MARK_BEGIN` and :data:`MARK_END` replaced by
    ``table``.

    >>> replace_table("a\n<!-- silence:table -->\nold\n<!-- /silence:table -->\nb", "new\n")
    'a\n<!-- silence:table -->\nnew\n<!-- /silence:table -->\nb'
    """
    start = text.find(MARK_BEGIN)
    end = text.find(MARK_END, start + 1) if start >= 0 else -1
    if start < 0 or end < 0:
        raise SystemExit(f"{where}: no {MARK_BEGIN.strip()} ... {MARK_END} lines to write into")
    return text[:start + len(MARK_BEGIN)] + table + text[end:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threshold", type=float, default=5.0,
                   help="longest allowed silence in seconds (default 5)")
    p.add_argument("--suite", default=None, metavar="DIR",
                   help="run the README's commands at small sizes in DIR")
    p.add_argument("--update-md", default=None, metavar="FILE",
                   help="with --suite: write the table into FILE between its "
                        f"{MARK_BEGIN.strip()} and {MARK_END.strip()} lines")
    p.add_argument("--quiet", action="store_true", help="do not echo the command's output")
    p.add_argument("--log", default=None, metavar="FILE",
                   help="write each chunk's time and visible lines to FILE (the timeline)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = p.parse_args(argv)
    if args.suite:
        before = _load()
        done = _suite(Path(args.suite).resolve(), args.threshold)
        table = _markdown(done, before, _load(), args.threshold)
        print("\n" + table)
        if args.update_md:
            path = Path(args.update_md)
            path.write_text(replace_table(path.read_text(encoding="utf-8"), table, path),
                            encoding="utf-8")
            print(f"wrote the table into {path}")
        bad = [n for n, _, w in done if w.returncode != 0 or w.longest().seconds > args.threshold]
        return 1 if bad else 0
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        p.error("give a command after --, or --suite DIR")
    w = watch(cmd, echo=not args.quiet)
    if args.log:
        Path(args.log).write_text(timeline(w), encoding="utf-8")
    print("\n" + describe(shlex.join(cmd), w))
    over = [g for g in w.gaps() if g.seconds > args.threshold]
    for g in sorted(over, key=lambda g: -g.seconds)[:5]:
        print(f"  over {args.threshold:g} s: {g.seconds:.1f} s at {g.start:.1f} s after "
              f"{g.before[:80]!r}")
    return 1 if over or w.returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
