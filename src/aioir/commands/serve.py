"""``aioir serve CHECKPOINT [--host 127.0.0.1] [--port 8000]``: a local web page to restore images.

Upload an image, restore it with the checkpoint's backbone (task-agnostic: the all-in-one
network needs no task), compare before and after with a slider, download the result; for a TUR
training checkpoint, which keeps the uncertainty head, the uncertainty map is shown too. Needs
the ``serve`` extra (``pip install -e '.[serve]'`` in the aioir clone). See :mod:`aioir.inference.webapp` and
``docs/serve.md``.
"""

from __future__ import annotations

import argparse
import math

from aioir.commands._network import CHECKPOINT_HELP, add_network_arguments

NAME = "serve"
HELP = "a local web page: upload an image, restore it, compare before/after, download"
ORDER = 45


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-upload-mb", type=float, default=20.0,
                   help="largest upload accepted, in MB (default 20)")
    p.add_argument("--max-megapixels", type=float, default=40.0,
                   help="largest image accepted, in megapixels (default 40)")
    p.add_argument("--max-memory", default="auto", metavar="SIZE",
                   help="working-memory budget of one restore, as for aioir restore")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default auto)")
    p.add_argument("--no-ema", action="store_true", help="use live weights, not the EMA")
    add_network_arguments(p)


def run(args: argparse.Namespace) -> int:
    from aioir.commands._network import open_network
    from aioir.engine.trainer import resolve_device
    from aioir.inference.memory import format_bytes, parse_memory
    from aioir.inference.restore import Restorer
    from aioir.inference.uncertainty import load_uncertainty_head
    from aioir.inference.webapp import RestoreService, create_app, listen, serve

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be 1-65535, got {args.port}")
    for flag, value in (("--max-upload-mb", args.max_upload_mb),
                        ("--max-megapixels", args.max_megapixels)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{flag} must be a positive number, got {value}")
    budget = None if args.max_memory == "auto" else parse_memory(args.max_memory)
    sock = listen(args.host, args.port)  # a busy port is refused before anything else
    device = resolve_device(args.device)
    model, meta = open_network(args, use_ema=not args.no_ema)
    trained = meta["weights"] in ("ema", "model")  # only a training checkpoint keeps TUR's head
    head = load_uncertainty_head(args.checkpoint, model) if trained else None
    restorers = {name: Restorer(model, device=device, max_memory=budget, ensemble=name,
                                uncertainty=head, network={"model": meta["model"],
                                                           "options": meta["options"]},
                                tasks=meta["tasks"])
                 for name in ("none", "flips")}
    service = RestoreService(restorers, meta, max_upload_bytes=int(args.max_upload_mb * 2**20),
                             max_pixels=int(args.max_megapixels * 1e6))
    app = create_app(service)
    print(f"measuring the network's memory (budget {format_bytes(restorers['none'].budget)}) ...")
    _ = restorers["none"].cost
    print(f"aioir serve: {meta['model']} from {args.checkpoint}"
          + ("; with TUR's uncertainty map" if head is not None else ""))
    print(f"open http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
    serve(app, args.host, args.port, sock)
    return 0
