"""``aioir degrade --task NAME --input DIR --output DIR``: write degraded copies of a folder.

Every image under ``--input`` (recursively) is degraded with one task of
:data:`aioir.degradations.TASKS` and written under ``--output`` with the same relative name and
the extension ``.png`` (8-bit, like MiOIR's stored data; ``--no-quantize`` writes 16-bit PNGs).
``params.json`` in the output folder records the task, distribution, seed, aioir version and the
parameters used for every image.

Each image gets its own generator ``numpy.random.default_rng([seed, *sha256(relative name)])``,
so its output depends only on the seed and its relative path, not on which other files are in
the folder or in which order they are read; the same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

NAME = "degrade"
HELP = "write degraded copies of a folder of images for one task (with a params.json sidecar)"
ORDER = 60

SIDECAR = "params.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help="task name, e.g. noise, blur, sr, jpeg, rain, haze, dark, denoise_25")
    p.add_argument("--input", required=True, help="folder of clean images (searched recursively)")
    p.add_argument("--output", required=True, help="output folder (PNG, same relative names)")
    p.add_argument("--dist", choices=("in", "out"), default="in",
                   help="parameter ranges: in-distribution (default) or out-of-distribution")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0); non-negative")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a parameter instead of drawing it (repeatable), e.g. --param sigma=25")
    p.add_argument("--depth", default=None, metavar="DIR",
                   help="haze only: folder of depth maps with the same relative names "
                        "(.npy, or a greyscale image); without it a pseudo-depth is estimated")
    p.add_argument("--no-quantize", action="store_true",
                   help="write 16-bit PNGs instead of rounding the result to 8 bits")


def image_rng(seed: int, name: str) -> np.random.Generator:
    """The generator for the image with relative path ``name`` (POSIX separators) in a run:
    :func:`aioir.data.sampling.name_rng`.

    >>> a = image_rng(0, "sub/x.png").random(); b = image_rng(0, "sub/x.png").random()
    >>> a == b, a == image_rng(1, "sub/x.png").random()
    (True, False)
    """
    from aioir.data.sampling import name_rng

    return name_rng(seed, name)


def parse_params(task: str, items: list[str]) -> dict[str, Any]:
    """``["sigma=25"]`` -> ``{"sigma": 25}``, typed and checked against ``task``'s parameters.

    >>> parse_params("blur", ["sigma=2.5", "kernel_size=9"])
    {'sigma': 2.5, 'kernel_size': 9}
    """
    from aioir.degradations import get_task

    spec = get_task(task)
    fixed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--param expects KEY=VALUE, got {item!r}")
        if key in spec.arrays:
            raise ValueError(f"{key!r} is an array input of {task!r}; use --{key} DIR instead of --param")
        param = spec.param(key)  # unknown names: ValueError naming the task and the closest name
        try:
            fixed[key] = param.parse(value)
        except ValueError as exc:
            raise ValueError(f"task {task!r}: {exc}") from None
    return fixed


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import json

    from aioir import __version__
    from aioir.data.depth import load_depth
    from aioir.data.io import list_images, read_images_skipping, write_image
    from aioir.degradations import apply, get_task
    from aioir.progress import progress

    spec = get_task(args.task)
    if args.seed < 0:
        raise ValueError(f"--seed must be non-negative, got {args.seed}")
    if args.depth is not None and "depth" not in spec.arrays:
        raise ValueError(f"--depth only applies to tasks that use depth (haze), not {args.task!r}")
    fixed = parse_params(args.task, args.param)
    src_root, out_root = Path(args.input), Path(args.output)
    files = [f for f in list_images(src_root) if not _inside(f, out_root)]
    if not files:
        raise ValueError(f"no images found in {src_root}")
    jobs: dict[str, tuple[Path, str]] = {}
    for f in files:
        rel = f.relative_to(src_root)
        out_rel = rel.with_suffix(".png").as_posix()
        if out_rel in jobs:
            raise ValueError(f"{jobs[out_rel][1]} and {rel.as_posix()} would both be written as {out_rel}")
        jobs[out_rel] = (f, rel.as_posix())

    records: dict[str, dict[str, Any]] = {}
    ordered = sorted(jobs.items())
    skipped: list[str] = []
    readable = read_images_skipping([src for _, (src, _) in ordered], skipped)
    for k, img in progress(readable, total=len(ordered), desc=f"degrade {args.task}",
                           unit="img"):
        out_rel, (src, rel) = ordered[k]
        extra = ({"depth": load_depth(args.depth, rel, img.shape[:2])}
                 if args.depth is not None else {})
        lq, used = apply(args.task, img, image_rng(args.seed, rel), dist=args.dist, **fixed, **extra)
        write_image(out_root / out_rel, lq, bits=16 if args.no_quantize else 8)
        records[out_rel] = {"source": rel, "params": used}

    sidecar = {
        "aioir_version": __version__,
        "task": args.task,
        "task_id": spec.id,
        "dist": args.dist,
        "seed": args.seed,
        "fixed": fixed,
        "bits": 16 if args.no_quantize else 8,
        "rng": "numpy default_rng([seed, 4 little-endian uint32 words of sha256(source)])",
        "images": records,
    }
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = out_root / (SIDECAR + ".tmp")
    tmp.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out_root / SIDECAR)
    for message in skipped:
        print(f"skipped: {message}")
    print(f"degraded {len(records)} image(s) with {args.task!r} into {out_root}"
          + (f"; {len(skipped)} unreadable" if skipped else ""))
    return 1 if skipped else 0
