"""``aioir restore CHECKPOINT INPUT... --out DIR [--tile N --overlap M]``."""

from __future__ import annotations

import argparse

NAME = "restore"
HELP = "restore images (files or folders) with a checkpoint or exported model"
ORDER = 30


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="training checkpoint (.pt) or exported .safetensors")
    p.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder (PNG, same relative names)")
    p.add_argument("--tile", type=int, default=None, help="tile size for large images")
    p.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (default 32)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default auto)")
    p.add_argument("--no-ema", action="store_true", help="use live weights, not the EMA")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from aioir.data.io import list_images, read_images_skipping, write_image
    from aioir.engine.trainer import resolve_device
    from aioir.inference.export import load_network
    from aioir.models.restore import restore_image
    from aioir.progress import progress

    device = resolve_device(args.device)
    model, _ = load_network(args.checkpoint, use_ema=not args.no_ema)
    model.to(device)
    jobs: list[tuple[Path, Path]] = []
    for item in map(Path, args.inputs):
        if item.is_dir():
            jobs += [(f, f.relative_to(item)) for f in list_images(item)]
        elif item.is_file():
            jobs.append((item, Path(item.name)))
        else:
            raise FileNotFoundError(f"no such file or folder: {item}")
    if not jobs:
        raise ValueError("no images found in the inputs")
    out = Path(args.out)
    skipped: list[str] = []
    readable = read_images_skipping([src for src, _ in jobs], skipped)
    for k, img in progress(readable, total=len(jobs), desc="restore", unit="img"):
        res = restore_image(model, img, device=device, tile=args.tile, overlap=args.overlap)
        write_image(out / jobs[k][1].with_suffix(".png"), res)
    for message in skipped:
        print(f"skipped: {message}")
    print(f"restored {len(jobs) - len(skipped)} image(s) into {out}"
          + (f"; {len(skipped)} unreadable" if skipped else ""))
    return 1 if skipped else 0
