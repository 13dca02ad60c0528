"""``aioir restore CHECKPOINT INPUT... --out DIR [--max-memory SIZE] [--ensemble flips]``.

Every image (files, or folders searched recursively) is restored with the checkpoint's backbone
and written under ``--out`` as PNG with its relative name, its bit depth (8 or 16), ICC profile
and EXIF (orientation applied). Images of any size are restored within ``--max-memory``: the
windows are planned from a measurement of the network's activation memory (an image that fits
is restored whole). An image that cannot be read or cannot fit is skipped with a message naming
it; the others are restored (exit status 1 when any was skipped). The outputs are checked before
anything runs (:mod:`aioir.commands._batch`): no output may replace an input or another output,
and existing files are kept unless ``--overwrite``.

A network that routes each image by the degradation it recognises (``aware_unet``; the
``degradation_probabilities`` hook of :mod:`aioir.models.hooks`) has what it detected printed
per image and written to ``detected.json`` in ``--out`` (relative name -> most likely task, its
probability, every class's probability).

The checkpoint may be the authors' released weights (``--model``, ``--option``, ``--tasks``;
see docs/models.md).
"""

from __future__ import annotations

import argparse
from typing import Any

from aioir.commands._network import CHECKPOINT_HELP, add_network_arguments, open_network

#: the sidecar (in --out) naming what a network that routes by degradation saw in each image
DETECTED_FILE = "detected.json"

NAME = "restore"
HELP = "restore images (files or folders) with a checkpoint or exported model"
ORDER = 30


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder (PNG, same relative names)")
    p.add_argument("--max-memory", default="auto", metavar="SIZE",
                   help="working-memory budget, e.g. 1.5G, 800M (default auto: 1.5 GiB or half "
                        "the available memory on CPU, 80%% of the free memory on CUDA)")
    p.add_argument("--tile", type=int, default=None,
                   help="fixed tile size (default: planned from --max-memory)")
    p.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (default 32)")
    p.add_argument("--ensemble", choices=("none", "flips"), default="none",
                   help="flips: average over the 8 flips/rotations (8x the time)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default auto)")
    p.add_argument("--no-ema", action="store_true", help="use live weights, not the EMA")
    p.add_argument("--overwrite", action="store_true",
                   help="replace files that already exist in --out (never the inputs)")
    add_network_arguments(p)


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from aioir.progress import working

    # PyTorch and the network take seconds to load: say so, and keep the clock moving
    with working(f"loading {args.checkpoint}"):
        from aioir.commands._batch import plan_outputs
        from aioir.data.io import ImageReadError
        from aioir.engine.trainer import resolve_device
        from aioir.errors import OutputError
        from aioir.inference.memory import (
            CALIBRATION_SIZES,
            BudgetError,
            format_bytes,
            parse_memory,
        )
        from aioir.inference.restore import Restorer
        from aioir.models.hooks import hooks
        from aioir.progress import progress

        budget = None if args.max_memory == "auto" else parse_memory(args.max_memory)
        jobs = plan_outputs(args.inputs, Path(args.out), overwrite=args.overwrite)
        device = resolve_device(args.device)
        model, meta = open_network(args, use_ema=not args.no_ema)
        restorer = Restorer(model, device=device, max_memory=budget, tile=args.tile,
                            overlap=args.overlap, ensemble=args.ensemble,
                            network={"model": meta["model"], "options": meta["options"]},
                            tasks=meta["tasks"])
    sidecar = Path(args.out) / DETECTED_FILE
    routes = hooks(model).degradation_probabilities is not None
    if routes and sidecar.exists() and not args.overwrite:
        raise ValueError(f"{sidecar} already exists; pass --overwrite to replace, or choose "
                         "another --out folder")
    detected: dict[str, dict] = {}
    print(f"measuring the network's memory (budget {format_bytes(restorer.budget)}) ...")
    started = time.perf_counter()
    with progress(total=len(CALIBRATION_SIZES), desc="measuring memory", unit="forward") as bar:
        restorer.measure_progress = bar.update
        cost = restorer.cost
    how = "kept from an earlier run" if restorer.cost_source == "disk" else "measured"
    print(f"  about {cost.per_pixel:.0f} bytes per pixel of a window ({how}, "
          f"{time.perf_counter() - started:.2f} s)")
    skipped: list[str] = []
    done = 0
    bar = progress(jobs, desc="restore", unit="img")
    for job in bar:
        try:
            planned = restorer.file_plan(job.source)
            plan = planned[0]
            windows = None
            bar.set_postfix_str(f"{job.name}: " + (
                "whole" if plan.windows == 1 else f"{plan.windows} tiles"))
            if plan.windows > 1:
                windows = progress(total=plan.windows, desc=f"  {job.name}", unit="tile")

            def advance(n: int, bar: Any = windows, total: int = plan.windows,
                        name: str = job.target.name) -> None:
                bar.update(n)
                if bar.n >= total:  # the last rows, then encoding the file
                    bar.set_postfix_str(f"writing {name}")

            try:
                report = restorer.restore_file(
                    job.source, job.target, planned=planned,
                    progress=advance if windows is not None else None)
            finally:
                if windows is not None:
                    windows.close()
            done += 1
            if report.detected is not None:
                detected[job.name] = report.detected
                print(f"  {job.name}: detected {report.detected['task']} "
                          f"(p = {report.detected['probability']:.2f})")
        except OSError as exc:  # cannot write: the next images would fail alike
            if isinstance(exc, FileNotFoundError) and not job.source.exists():
                skipped.append(f"{job.source}: file vanished before it was read")
                continue
            bar.close()
            cause = str(exc) if isinstance(exc, OutputError) else (
                f"cannot write {job.target}: {exc.strerror or exc}")  # OutputError names it
            raise ValueError(
                f"{cause}; {done} image(s) were restored into {args.out} before this"
            ) from exc
        except (ImageReadError, BudgetError) as exc:
            skipped.append(str(exc))
        except (MemoryError, RuntimeError, ValueError) as exc:
            skipped.append(f"{job.source}: {type(exc).__name__}: {exc}")
    bar.close()
    if detected:
        from aioir.files import write_text

        write_text(sidecar, json.dumps(detected, indent=1) + "\n", what="detections")
        print(f"what the network detected in each image: {sidecar}")
    for message in skipped:
        print(f"skipped: {message}")
    print(f"restored {done} of {len(jobs)} image(s) into {args.out}"
          + (f"; {len(skipped)} skipped" if skipped else ""))
    return 1 if skipped else 0
