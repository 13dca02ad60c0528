"""``aioir degrade --task NAME --input DIR|FILE --output DIR``: write degraded copies of images.

Every image under ``--input`` (a folder, searched recursively, or one image file) is degraded
with one task of :data:`aioir.degradations.TASKS` and written under ``--output`` with the same
relative name (a file: its name) and the extension ``.png`` (8-bit, like MiOIR's stored data;
``--no-quantize`` writes 16-bit PNGs). ``params.json`` in the output folder records the task,
distribution, seed, aioir version and the parameters used for every image. The outputs are
checked before anything is written (:mod:`aioir.commands._batch`, shared with ``restore``): the
output folder may not be the input folder, images inside it are not read as inputs, two inputs
may not share an output name, and existing files are kept unless ``--overwrite``.

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
    p.add_argument("--input", required=True,
                   help="folder of clean images (searched recursively), or one image file")
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
    p.add_argument("--overwrite", action="store_true",
                   help="replace files that already exist in --output (never the inputs)")


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


def run(args: argparse.Namespace) -> int:
    import json

    from aioir import __version__
    from aioir.commands._batch import plan_outputs
    from aioir.data.depth import load_depth
    from aioir.data.io import read_images_skipping, write_image
    from aioir.degradations import apply, get_task
    from aioir.files import write_text
    from aioir.progress import progress

    spec = get_task(args.task)
    if args.seed < 0:
        raise ValueError(f"--seed must be non-negative, got {args.seed}")
    if args.depth is not None and "depth" not in spec.arrays:
        raise ValueError(f"--depth only applies to tasks that use depth (haze), not {args.task!r}")
    fixed = parse_params(args.task, args.param)
    out_root = Path(args.output)
    jobs = plan_outputs([args.input], out_root, overwrite=args.overwrite,
                        extra_targets=[SIDECAR], flag="--output")

    records: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    readable = read_images_skipping([job.source for job in jobs], skipped)
    for k, img in progress(readable, total=len(jobs), desc=f"degrade {args.task}", unit="img"):
        job = jobs[k]
        extra = ({"depth": load_depth(args.depth, job.name, img.shape[:2])}
                 if args.depth is not None else {})
        lq, used = apply(args.task, img, image_rng(args.seed, job.name), dist=args.dist,
                         **fixed, **extra)
        write_image(job.target, lq, bits=16 if args.no_quantize else 8)
        records[job.target.relative_to(out_root).as_posix()] = {"source": job.name, "params": used}

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
    write_text(out_root / SIDECAR, json.dumps(sidecar, indent=2, sort_keys=True) + "\n",
               what="degradation record")
    for message in skipped:
        print(f"skipped: {message}")
    print(f"degraded {len(records)} image(s) with {args.task!r} into {out_root}"
          + (f"; {len(skipped)} unreadable" if skipped else ""))
    return 1 if skipped else 0
