"""Time and memory of every registered backbone at its full size, on this machine's CPU.

For each (model, size) a fresh Python process (so peak memory is that model's alone):

1. imports torch/aioir, sets the thread count, builds the backbone with its default options
   (the full published size) and seeds the input (batch 1, 3 x size x size, uniform [0, 1]);
2. **forward**: ``model.eval()`` under ``torch.inference_mode()``; warm-up runs, then the median
   of the timed runs;
3. **forward+backward**: ``model.train()``, ``out.mean().backward()`` (parameter gradients set to
   None before each run); warm-up, then the median;
4. memory = the process's peak resident set size (``getrusage(RUSAGE_SELF).ru_maxrss``, a
   high-water mark) read after the build, after the forward phase and after the training phase,
   plus the current RSS after the build (``/proc/self/statm``). ``fwd peak`` and ``train peak``
   are the high-water marks of the whole process (interpreter, torch, weights included);
   ``+fwd`` / ``+train`` subtract the RSS after the build, i.e. activations, gradients and
   temporaries.

Timed runs stop early once ``--max-seconds`` of timed work has been spent on one measurement
(at least one timed run always happens); the ``n`` columns say how many were taken.

Usage::

    python benchmarks/bench_backbones.py                       # all models, 128 and 256
    python benchmarks/bench_backbones.py --models nafnet,uformer --sizes 128 --threads 2
    python benchmarks/bench_backbones.py --tiny --repeats 1    # smoke test with TEST_OPTIONS
    python benchmarks/bench_backbones.py --append-md docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

MiB = 1024 * 1024


def _maxrss_mib() -> float:
    """Peak RSS of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MiB if sys.platform == "darwin" else peak / 1024


def _current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / MiB
    except OSError:  # not Linux: fall back to the high-water mark
        return _maxrss_mib()


def _timed(fn: Any, warmup: int, repeats: int, max_seconds: float) -> tuple[float, int]:
    """Median wall time (s) of ``fn()`` over up to ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    spent = 0.0
    while len(times) < repeats and (not times or spent < max_seconds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
    return statistics.median(times), len(times)


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Measure one (model, size) in this process; returns a JSON-able record."""
    if args.mem_limit_gb > 0:  # fail with an error instead of driving a shared machine into OOM
        limit = int(args.mem_limit_gb * 1024**3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import torch

    from aioir import models

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rss_import = _current_rss_mib()
    models.names()  # imports every backbone module, filling TEST_OPTIONS
    options = models.TEST_OPTIONS.get(args.model, {}) if args.tiny else {}
    net = models.build(args.model, **options)
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    rss_build = _current_rss_mib()
    x = torch.rand(1, 3, args.size, args.size)

    def first(out: Any) -> torch.Tensor:
        return out[0] if isinstance(out, (tuple, list)) else out

    net.eval()

    def forward() -> None:
        with torch.inference_mode():
            first(net(x))

    fwd, n_fwd = _timed(forward, args.warmup, args.repeats, args.max_seconds)
    peak_fwd = _maxrss_mib()
    record: dict[str, Any] = {
        "model": args.model,
        "size": args.size,
        "params": params,
        "forward_s": fwd,
        "forward_runs": n_fwd,
        "rss_import_mib": rss_import,
        "rss_build_mib": rss_build,
        "peak_fwd_mib": peak_fwd,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    # report the forward phase now: if training runs out of memory, it is not lost
    print(json.dumps(record), flush=True)

    net.train()

    def train_step() -> None:
        net.zero_grad(set_to_none=True)
        first(net(x)).mean().backward()

    fwdbwd, n_train = _timed(train_step, args.warmup, args.repeats, args.max_seconds)
    peak_train = _maxrss_mib()
    return {**record, "fwdbwd_s": fwdbwd, "fwdbwd_runs": n_train, "peak_train_mib": peak_train}


def _run_one(args: argparse.Namespace, model: str, size: int) -> dict[str, Any]:
    cmd = [
        sys.executable, os.path.abspath(__file__), "--worker",
        "--models", model, "--sizes", str(size), "--threads", str(args.threads),
        "--warmup", str(args.warmup), "--repeats", str(args.repeats),
        "--max-seconds", str(args.max_seconds), "--mem-limit-gb", str(args.mem_limit_gb),
    ] + (["--tiny"] if args.tiny else [])  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        proc = subprocess.CompletedProcess(cmd, -9, out, f"timeout after {args.timeout:g} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    record = json.loads(lines[-1]) if lines else {"model": model, "size": size}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        if "memory" in tail.lower() or "alloc" in tail.lower():
            tail = f"out of memory under the {args.mem_limit_gb:g} GB limit"
        record["error"] = tail[:160]
    return record


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markdown(records: list[dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = [
        "| model | params | size | forward (s) | n | fwd+bwd (s) | n | RSS after build (MiB) "
        "| fwd peak (MiB) | +fwd | train peak (MiB) | +train |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        if "forward_s" not in r:
            lines.append(f"| {r['model']} | | {r['size']} | {r.get('error', '?')} | | | | | | | | |")
            continue
        b = r["rss_build_mib"]
        row = (
            f"| {r['model']} | {r['params']:,} | {r['size']} | {r['forward_s']:.3f} "
            f"| {r['forward_runs']} "
        )
        if "fwdbwd_s" in r:
            row += f"| {r['fwdbwd_s']:.3f} | {r['fwdbwd_runs']} "
        else:
            row += f"| {r.get('error', '?')} | "
        row += f"| {b:.0f} | {r['peak_fwd_mib']:.0f} | {r['peak_fwd_mib'] - b:.0f} "
        if "peak_train_mib" in r:
            row += f"| {r['peak_train_mib']:.0f} | {r['peak_train_mib'] - b:.0f} |"
        else:
            row += "| | |"
        lines.append(row)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="", help="comma-separated names (default: every registered backbone)")
    p.add_argument("--sizes", default="128,256", help="comma-separated square input sides")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per measurement")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="stop timing one measurement after this")
    p.add_argument("--timeout", type=float, default=1800.0, help="kill one (model, size) process after this")
    p.add_argument(
        "--mem-limit-gb",
        type=float,
        default=8.0,
        help="address-space limit of each measuring process (0 = none); over it the row reports the error",
    )
    p.add_argument("--tiny", action="store_true", help="use TEST_OPTIONS instead of the full sizes")
    p.add_argument("--json", help="also write the records to this JSON file")
    p.add_argument("--append-md", help="append the table with its provenance to this markdown file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    if args.worker:
        args.model, args.size = args.models, sizes[0]
        print(json.dumps(worker(args)))
        return 0

    if args.models:
        names = [m for m in args.models.split(",") if m]
    else:
        from aioir import models

        names = models.names()
    started = dt.datetime.now().astimezone()
    load_before = os.getloadavg()
    records = []
    for name in names:
        for size in sizes:
            rec = _run_one(args, name, size)
            records.append(rec)
            print(markdown([rec]).splitlines()[-1], flush=True)
    load_after = os.getloadavg()
    import torch

    header = (
        f"Command: `python benchmarks/bench_backbones.py {' '.join(argv if argv is not None else sys.argv[1:])}`  \n"
        f"Date: {started:%Y-%m-%d %H:%M %Z}; torch {torch.__version__}; {args.threads} thread(s); "
        f"CPU: {_cpu_name()} ({os.cpu_count()} logical cores); batch 1; warm-up {args.warmup}, "
        f"median of up to {args.repeats} runs (at most {args.max_seconds:g} s of timed runs each); "
        f"address-space limit {args.mem_limit_gb:g} GB per process.  \n"
        f"Load average (1/5/15 min) before: {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
        f"after: {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}."
    )
    table = markdown(records)
    print()
    print(header)
    print()
    print(table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"header": header, "records": records}, fh, indent=1)
    if args.append_md:
        with open(args.append_md, "a") as fh:
            fh.write(f"\n{header}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
