"""Which backbones each export format can express: export + check, over the registry.

Every registered backbone is built with its reduced test options (``TEST_OPTIONS``; the same
code as the full networks, smaller widths and depths), its weights moved off their
initialisation (tiny_unet starts as the identity), saved as an aioir safetensors export, and
exported to every format with ``--check`` (:func:`aioir.inference.graph_export.check_export`:
a held-out photo crop and two odd-sized inputs, max |exported - PyTorch| <= 1e-4). Each export
runs in its own process; one that fails is reported with its message.

    python benchmarks/bench_export.py --json /tmp/bench_export.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(name: str, fmt: str, folder: str) -> dict:
    import torch

    from aioir import models
    from aioir.inference.export import FORMATS, export_checkpoint, save_exported

    torch.manual_seed(0)
    options = models.reduced_options(name)
    net = models.build(name, **options)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    src = save_exported(net, Path(folder) / f"{name}.safetensors", model_name=name,
                        options=options, tasks=["noise"])
    t0 = time.perf_counter()
    try:
        report = export_checkpoint(src, Path(folder) / f"{name}_{fmt}{FORMATS[fmt]}", fmt=fmt,
                                   check=True, overwrite=True)
    except ValueError as exc:
        return {"model": name, "format": fmt, "ok": False, "error": str(exc),
                "seconds": time.perf_counter() - t0}
    return {"model": name, "format": fmt, "ok": True,
            "max_diff": report.check.max_difference, "seconds": time.perf_counter() - t0,
            "bytes": report.path.stat().st_size}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(*sys.argv[2:5])))
        return
    from aioir import models

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(models.names()))
    p.add_argument("--formats", default="safetensors,torchscript,onnx")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models.split(","):
            for fmt in a.formats.split(","):
                out = subprocess.run([sys.executable, __file__, "--worker", name, fmt, tmp],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    tail = (out.stderr.strip().splitlines() or ["?"])[-1]
                    rows.append({"model": name, "format": fmt, "ok": False, "error": tail})
                else:
                    rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                r = rows[-1]
                print(f"{name:17s} {fmt:12s} "
                      + (f"ok  max diff {r['max_diff']:.1e}  {r['seconds']:.1f} s" if r["ok"]
                         else f"FAILED: {r['error']}"), flush=True)
    print("\n| backbone | " + " | ".join(a.formats.split(",")) + " |")
    print("|---|" + "---|" * len(a.formats.split(",")))
    for name in a.models.split(","):
        cells = []
        for fmt in a.formats.split(","):
            r = next(x for x in rows if x["model"] == name and x["format"] == fmt)
            cells.append(f"yes ({r['max_diff']:.0e})" if r["ok"] else "no")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
