"""Input files and output paths of the batch commands (``restore``, ``degrade``), checked once.

A batch command reads image files and folders and writes one PNG per image under an output
folder, with the same relative name. :func:`plan_outputs` is the one place that makes this
safe, so no user file is lost:

* a folder's images are listed recursively, except those inside an output folder that lies
  within it (an output folder inside the input folder is not re-read as input on the next run);
* the output folder may not be an input folder, and no output may be one of the input files:
  the results would replace the originals;
* two inputs that would be written to the same file (``a.jpg`` and ``a.png``, or the same
  relative name in two input folders) are refused, naming both;
* existing files are not replaced unless ``overwrite`` is set (``--overwrite``).

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "in").mkdir()
>>> for name in ("a.jpg", "a.png"):
...     _ = (root / "in" / name).write_bytes(b"x")
>>> plan_outputs([root / "in"], root / "out")
Traceback (most recent call last):
...
ValueError: a.jpg and a.png would both be written as a.png; rename one or write them into ...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: shown when refusing to replace files
_SHOWN = 3


@dataclass(frozen=True)
class Job:
    """One image of a batch: ``source`` file, its ``name`` relative to its input (POSIX), and the
    ``target`` it is written to."""

    source: Path
    name: str
    target: Path


def inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies under it (symlinks resolved).

    >>> inside(Path("/a/b/c.png"), Path("/a")), inside(Path("/a"), Path("/a/b"))
    (True, False)
    """
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def collect_inputs(
    items: Iterable[str | Path], out_root: Path
) -> tuple[list[tuple[Path, str]], int]:
    """``([(file, relative name), ...], files skipped because they are inside out_root)``.

    Folders are searched recursively (:func:`aioir.data.io.list_images`); a file is taken as
    given, named by its file name. A missing path raises ``FileNotFoundError`` naming it.
    """
    from aioir.data.io import list_images

    found: list[tuple[Path, str]] = []
    ignored = 0
    for item in map(Path, items):
        if item.is_dir():
            if item.resolve() == out_root.resolve():
                raise ValueError(
                    f"the output folder {out_root} is the input folder {item}: the results would "
                    "replace the originals; choose another output folder"
                )
            out_within = inside(out_root, item)  # an output folder inside this input folder
            for f in list_images(item):
                if out_within and inside(f, out_root):
                    ignored += 1
                else:
                    found.append((f, f.relative_to(item).as_posix()))
        elif item.is_file():
            found.append((item, item.name))
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    return found, ignored


def plan_outputs(
    items: Iterable[str | Path],
    out_root: str | Path,
    *,
    suffix: str = ".png",
    overwrite: bool = False,
    extra_targets: Iterable[str] = (),
    flag: str = "--out",
) -> list[Job]:
    """The jobs of a batch from ``items`` (files and folders) into ``out_root``, checked.

    Each target is ``out_root / name`` with ``suffix``. ``extra_targets``: further files the
    command writes in ``out_root`` (a sidecar), checked for existence like the images. ``flag``
    names the output option in messages. Raises ``ValueError`` (with what to do) for an
    output folder that is a file or an input folder, an output that would replace an input,
    two inputs with one output name, existing outputs without ``overwrite``, or no images.
    """
    items = list(items)
    out = Path(out_root)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{flag} {out} is a file; give a folder")
    found, ignored = collect_inputs(items, out)
    if ignored:
        print(f"note: {ignored} image(s) inside the output folder {out} are not read as inputs")
    if not found:
        raise ValueError(f"no images found in {', '.join(map(str, items))}")
    jobs: dict[str, Job] = {}
    sources = {src.resolve() for src, _ in found}
    for src, name in found:
        target_name = Path(name).with_suffix(suffix).as_posix()
        target = out / target_name
        if target_name in jobs:
            raise ValueError(
                f"{jobs[target_name].name} and {name} would both be written as {target_name}; "
                f"rename one or write them into different {flag} folders"
            )
        if target.resolve() in sources:
            raise ValueError(
                f"the output {target} would replace the input {src}; choose another {flag} folder"
            )
        jobs[target_name] = Job(src, name, target)
    if not overwrite:
        existing = [j.target for j in jobs.values() if j.target.exists()]
        existing += [out / n for n in extra_targets if (out / n).exists()]
        if existing:
            shown = ", ".join(str(p) for p in existing[:_SHOWN])
            more = f" and {len(existing) - _SHOWN} more" if len(existing) > _SHOWN else ""
            raise ValueError(
                f"{shown}{more} already exist(s); pass --overwrite to replace, or choose another "
                f"{flag} folder"
            )
    return [jobs[k] for k in sorted(jobs)]
