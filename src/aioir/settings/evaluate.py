"""``aioir eval CHECKPOINT --setting NAME --root DIR``: the paper's table for a checkpoint.

Every test set of the setting is restored with ``restore_fn`` (tiling, when asked for, happens
inside it) and measured with the setting's protocol (``--protocol`` overrides it). One table per
test group (``main``: the paper's table; MiOIR also has ``ood``), columns = test sets +
Average, a row for the degraded inputs and one for the checkpoint, the protocol named under it.
When the protocol asks for LPIPS and the optional ``lpips`` package (or its AlexNet weights)
is missing, PSNR/SSIM are still computed and the output says that LPIPS is unavailable.

Results go to ``--out`` (default: ``eval/`` next to the checkpoint): ``eval_<setting>.json``
(every number, per image too) and ``eval_<setting>.csv`` (per-task means), with a
``_<group>`` suffix for groups other than ``main``.

The checkpoint's task names (``meta["tasks"]``) need not equal the setting's: all-in-one
models are task-agnostic at test time, so a model trained on other tasks is evaluated anyway,
with a warning naming the difference.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np


def task_mismatch(setting_tasks: list[str], model_tasks: list[str] | None) -> str | None:
    """A warning when the checkpoint was trained on other tasks than the setting's, else None.

    >>> task_mismatch(["derain"], ["derain"]) is None
    True
    >>> print(task_mismatch(["derain", "dehaze"], ["derain", "snow"]))
    warning: the checkpoint was trained on tasks [derain, snow], the setting has [derain, dehaze] (not trained: dehaze); evaluating anyway (all-in-one models need no task at test time)
    """
    if model_tasks is None or list(model_tasks) == list(setting_tasks):
        return None
    missing = [t for t in setting_tasks if t not in model_tasks]
    extra = f" (not trained: {', '.join(missing)})" if missing else " (same tasks, other order)"
    return (f"warning: the checkpoint was trained on tasks [{', '.join(model_tasks)}], the "
            f"setting has [{', '.join(setting_tasks)}]{extra}; evaluating anyway (all-in-one "
            "models need no task at test time)")


def lpips_status(protocol: Any) -> tuple[Any, str | None]:
    """``(protocol, note)``: the protocol unchanged when LPIPS is not asked for or available;
    otherwise a copy without LPIPS and a note saying why it is missing."""
    if not protocol.lpips:
        return protocol, None
    from aioir.metrics import LpipsUnavailableError, load_lpips

    try:
        load_lpips()
    except LpipsUnavailableError as exc:
        return dataclasses.replace(protocol, lpips=False), f"LPIPS unavailable: {exc}"
    return protocol, None


def evaluate_group(setting: Any, root: str | Path, group: str, restore_fn: Callable,
                   protocol: Any, progress: bool = False):
    """:class:`aioir.metrics.EvalResult` of one test group (None when all its sets are
    optional and absent)."""
    from aioir.metrics import evaluate_pairs

    sets = setting.test_sets(root, group)
    if not sets:
        return None
    columns = [c for c, _ in sets]
    samples = itertools.chain.from_iterable(ts for _, ts in sets)
    return evaluate_pairs(restore_fn, samples, protocol, columns, progress=progress,
                          measure_input=True)


def _lpips_table(summary: dict[str, Any]) -> str:
    from aioir.report.tables import markdown_table

    per_task = summary["per_task"]
    cols = list(per_task) + ["Average"]
    row = [f"{per_task[c]['lpips']:.4f}" for c in per_task] + [f"{summary['average']['lpips']:.4f}"]
    return markdown_table(["LPIPS", *cols], [["model", *row]])


def evaluate_setting(setting: str, root: str | None, restore_fn: Callable[[np.ndarray],
                     np.ndarray], meta: dict[str, Any], args: argparse.Namespace) -> int:
    """Evaluate ``restore_fn`` on every test set of ``setting`` under ``root``; print the tables
    and write CSV/JSON. Returns the exit status (0)."""
    from aioir.metrics import get_protocol
    from aioir.report.tables import INPUT_ROW, results_table
    from aioir.report.writers import write_results
    from aioir.settings import get_setting

    s = get_setting(setting)
    if not root:
        raise ValueError(f"--root is required with --setting {s.name} (see docs/datasets.md)")
    warning = task_mismatch(list(s.task_names), meta.get("tasks"))
    if warning:
        print(warning, file=sys.stderr)
    protocol_arg = getattr(args, "protocol", None)
    protocol, lpips_note = lpips_status(get_protocol(protocol_arg) if protocol_arg else s.protocol)
    checkpoint = Path(getattr(args, "checkpoint", "model"))
    out = Path(args.out) if getattr(args, "out", None) else checkpoint.resolve().parent / "eval"
    model_row = checkpoint.stem
    written = []
    for group in s.groups:
        result = evaluate_group(s, root, group, restore_fn, protocol,
                                progress=bool(getattr(args, "progress", False)))
        if result is None:
            print(f"[{group}] no test sets found (optional); skipped")
            continue
        summary = result.to_dict()
        rows = {INPUT_ROW: {"per_task": summary["input_per_task"],
                            "average": summary["input_average"]}, model_row: summary}
        title = f"{s.name} ({group})" if group != "main" else s.name
        print(f"\n## {title}\n")
        print(results_table(rows, result.task_names, protocol=protocol.describe()))
        if protocol.lpips:
            print("\n" + _lpips_table(summary))
        if lpips_note:
            print(f"\n{lpips_note}")
        summary.update(setting=s.name, group=group, checkpoint=str(checkpoint),
                       checkpoint_tasks=meta.get("tasks"), lpips_note=lpips_note,
                       tile=getattr(args, "tile", None), overlap=getattr(args, "overlap", None))
        stem = f"eval_{s.name}" + ("" if group == "main" else f"_{group}")
        written += write_results(summary, out, stem=stem)
    print(f"\nresults written to {out}: {', '.join(p.name for p in written)}")
    return 0
