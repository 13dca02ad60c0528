"""The report's output folder: never overwrite anything but an earlier report, replace it whole.

A report folder holds a manifest (:data:`MANIFEST`) listing every file the report wrote. A folder
that exists and holds any file not in its manifest (or has no manifest but holds files) belongs
to someone else, and :func:`check_out_dir` refuses it. A report is first written into a hidden
sibling folder, then :func:`publish` swaps it in with two renames (the old report moves aside,
the new one takes its name, the old one is deleted), so the folder never holds a mix of two
reports, and a failure leaves the previous report in place.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> staged = staging_dir(root / "report")
>>> _ = (staged / "report.md").write_text("# hi\\n")
>>> out = publish(staged, root / "report")
>>> sorted(p.name for p in out.iterdir())
['.aioir-report.json', 'report.md']
>>> _ = (out / "notes.txt").write_text("mine")
>>> check_out_dir(out)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: refusing to write the report into ... wrote: notes.txt
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

__all__ = ["MANIFEST", "check_out_dir", "staging_dir", "publish", "report_files"]

MANIFEST = ".aioir-report.json"
_FORMAT = "aioir-report"


def report_files(folder: Path) -> list[str] | None:
    """Files listed in ``folder``'s manifest (relative paths); ``None`` if it has none."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return None
    return [str(f) for f in data.get("files", [])]


def check_out_dir(out: str | os.PathLike[str]) -> None:
    """Raise ``ValueError`` unless ``out`` is absent, empty, or an earlier report's folder."""
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"refusing to write the report into {out}: it is a file")
    present = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir())
    own = set(report_files(out) or []) | {MANIFEST}
    foreign = [p for p in present if p not in own]
    if foreign:
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        raise ValueError(
            f"refusing to write the report into {out}: it holds files that no aioir report "
            f"wrote: {', '.join(foreign[:5])}{more}"
        )


def staging_dir(out: str | os.PathLike[str]) -> Path:
    """A new hidden folder beside ``out`` (same file system) to write the report into."""
    return _sibling(Path(out), "new", create=True)


def _sibling(out: Path, kind: str, create: bool) -> Path:
    """A fresh hidden name beside ``out``; created (with the umask's permissions) if asked."""
    out.parent.mkdir(parents=True, exist_ok=True)
    while True:
        path = out.parent / f".{out.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if path.exists():
            continue
        if create:
            path.mkdir()
        return path


def publish(staged: Path, out: str | os.PathLike[str]) -> Path:
    """Write ``staged``'s manifest and move it to ``out``, replacing an earlier report there."""
    out = Path(out)
    files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
    files = [f for f in files if f != MANIFEST]
    (staged / MANIFEST).write_text(
        json.dumps({"format": _FORMAT, "files": files}, indent=1) + "\n", encoding="utf-8"
    )
    check_out_dir(out)  # again: the folder may have changed while the report was made
    if not out.exists():
        os.rename(staged, out)
        return out
    old = _sibling(out, "old", create=False)
    os.rename(out, old)
    try:
        os.rename(staged, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return out
