"""``aioir eval CHECKPOINT [--setting NAME --root DIR | --photos DIR] [--tile N]``.

Both forms call :func:`aioir.engine.evaluation.evaluate`, the function in-training validation
uses:

* without ``--setting``: the run's own validation sets (its setting's test sets with the run's
  ``val.*`` caps), i.e. what the Trainer measured; results in ``eval/`` beside the run's
  checkpoints;
* with ``--setting NAME --root DIR``: every test set of the setting at full size, one table per
  test group (``main``: the paper's table; MiOIR also has ``ood``), columns = test sets +
  Average, a row for the degraded inputs and one for the checkpoint, the protocol named under
  it (``--protocol`` overrides the setting's). Results go to ``--out`` (default: ``eval/`` next
  to the checkpoint): ``eval_<setting>_<checkpoint>.json`` (every number, per image too) and
  ``eval_<setting>_<checkpoint>.csv`` (per-task means), with a ``_<group>`` suffix for groups other than
  ``main``. When the protocol asks for LPIPS and the optional ``lpips`` package (or its
  AlexNet weights) is missing, PSNR/SSIM are still computed and the output says so.

Result files are named after the checkpoint (``eval_step_00000004``, and
``eval_<setting>_step_00000004``); outside the checkpoint's own run folder the name also carries
the run folder's name (``eval_runA_step_00000004``), since every run names its checkpoints
``step_N.pt``. An existing result file is refused before anything is evaluated unless
``--overwrite``.

* with ``--photos DIR``: photographs without ground truth (a folder of your photos, the LQ
  folder of a real-world set): each restored, and the no-reference scores NIQE and BRISQUE
  (:mod:`aioir.metrics.noref`; lower is better) of the photos as given and restored. Results:
  ``photos_<name>.json`` (every image's scores; ``<name>``: ``--name``, else the folder's
  name) in ``eval/`` beside the checkpoint's run, where ``aioir report`` finds them.

The checkpoint's task names need not equal the setting's: all-in-one models are task-agnostic at
test time, so a model trained on other tasks is evaluated anyway, with a warning naming the
difference.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aioir.commands._network import CHECKPOINT_HELP, add_network_arguments, open_network

NAME = "eval"
HELP = ("per-task PSNR/SSIM of a checkpoint on a setting's test sets or its validation sets; "
        "NIQE/BRISQUE on photos without ground truth")
ORDER = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("--setting", default=None,
                   help="setting name (`aioir data list`) or a setting YAML file")
    p.add_argument("--root", default=None, help="dataset root of the setting")
    p.add_argument("--photos", default=None, metavar="DIR",
                   help="photographs without ground truth: NIQE and BRISQUE of each, as given "
                        "and restored")
    p.add_argument("--name", default=None,
                   help="name of the --photos set in the results (default: the folder's name)")
    p.add_argument("--tile", type=int, default=None, help="tile size for large test images")
    p.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels (default 32)")
    p.add_argument("--protocol", default=None, help="override the metric protocol (mioir, airnet, daclip)")
    p.add_argument("--out", default=None, help="folder for the CSV/JSON results")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-ema", action="store_true", help="evaluate live weights, not the EMA")
    add_network_arguments(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace result files of an earlier evaluation with the same name")


def result_label(checkpoint: Path, out: Path) -> str:
    """The checkpoint's part of a result file name: its stem, prefixed with its run folder's
    name when ``out`` lies outside that run folder (every run names its checkpoints
    ``step_N.pt``, so results of several runs in one folder stay apart).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ck = d / "runA" / "checkpoints" / "step_00000004.pt"
    >>> result_label(ck, d / "runA" / "eval"), result_label(ck, d / "evo")
    ('step_00000004', 'runA_step_00000004')
    """
    ckpt = Path(checkpoint).resolve()
    run = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    try:
        Path(out).resolve().relative_to(run)
        return ckpt.stem
    except ValueError:
        return f"{run.name}_{ckpt.stem}"


def refuse_existing(out: Path, stems: list[str], overwrite: bool) -> None:
    """Refuse (before anything is evaluated) when a result file ``out/<stem>.json|.csv``
    exists and ``overwrite`` is not set."""
    from aioir.files import path_component

    if overwrite:
        return
    for stem in stems:
        for ext in (".json", ".csv"):
            path = Path(out) / f"{path_component(stem)}{ext}"
            if path.exists():
                raise ValueError(f"{path} already exists (an earlier evaluation); pass "
                                 f"--overwrite to replace it, or choose another --out")


#: seconds one image's tiles may take before their own display shows (a quick image: none)
TILE_DISPLAY_DELAY = 2.0


class _TileDisplay:
    """The windows of one tiled image, shown below the image bar when they take longer than
    :data:`TILE_DISPLAY_DELAY` (erased when the image is done); called with each batch."""

    def __init__(self, total: int) -> None:
        from aioir.progress import progress

        self.total = total
        self.bar = progress(total=total, desc="  tiles of this image", unit="tile",
                            leave=False, delay=TILE_DISPLAY_DELAY, every_percent=25)

    def __call__(self, n: int) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


def tile_progress(img: np.ndarray, tile: int | None, overlap: int) -> _TileDisplay | None:
    """A display of ``img``'s windows for a tiled restore (None when it is restored whole).

    >>> import numpy as np
    >>> tile_progress(np.zeros((64, 64, 3)), None, 32) is None
    True
    >>> tile_progress(np.zeros((64, 64, 3)), 128, 32) is None   # one window: whole
    True
    >>> tiles = tile_progress(np.zeros((64, 200, 3)), 96, 32)    # 64 x 200: 1 row of 3
    >>> tiles.total
    3
    >>> tiles.close()
    """
    if not tile or max(img.shape[:2]) <= tile:
        return None
    from aioir.models.tiling import TilePlan

    windows = TilePlan.square(img.shape[0], img.shape[1], tile, overlap).windows
    return _TileDisplay(windows) if windows > 1 else None


def run(args: argparse.Namespace) -> int:
    from aioir.progress import working

    # PyTorch and the network take seconds to load: say so, and keep the clock moving
    with working(f"loading {args.checkpoint}"):
        from aioir.engine.trainer import resolve_device
        from aioir.models.restore import restore_image

        device = resolve_device(args.device, "--device")
        model, meta = open_network(args, use_ema=not args.no_ema)
        model.to(device)

    def restore_fn(img):
        tiles = tile_progress(img, args.tile, args.overlap)
        try:
            return restore_image(model, img, device=device, tile=args.tile,
                                 overlap=args.overlap, progress=tiles)
        finally:
            if tiles is not None:
                tiles.close()

    from aioir.models.hooks import hooks

    task_context = hooks(model).task_context  # e.g. the diffusion wrapper: each task's t_mat
    if args.photos:
        if args.setting:
            raise ValueError("give --setting or --photos, not both")
        return evaluate_photos(args.photos, restore_fn, args)
    if args.setting:
        return evaluate_setting(args.setting, args.root, restore_fn, meta, args,
                                task_context=task_context)
    return evaluate_validation(restore_fn, meta, args, task_context=task_context)


def evaluate_validation(restore_fn: Callable[[np.ndarray], np.ndarray], meta: dict[str, Any],
                        args: argparse.Namespace, *, task_context: Any = None) -> int:
    """The run's validation sets, as the Trainer measures them (``task_context``: the
    model's hook, see :func:`aioir.engine.evaluation.evaluate`)."""
    from aioir.config import from_dict
    from aioir.config.schema import RunConfig
    from aioir.engine.evaluation import evaluate, lpips_status, summary
    from aioir.report.tables import validation_table
    from aioir.report.writers import write_results
    from aioir.settings.assemble import resolve_setting, val_protocol, validation_sets

    if "config" not in meta:
        raise ValueError("an exported model has no validation sets: pass --setting and --root")
    cfg = from_dict(RunConfig, meta["config"])
    setting = resolve_setting(cfg)
    cfg.val.enabled = True
    sets, notes = validation_sets(cfg, setting)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not sets:
        raise ValueError("this run's setting has no test sets under its data.root: pass "
                         "--setting and --root")
    from aioir.metrics import get_protocol

    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent.parent / "eval"
    stem = f"eval_{result_label(Path(args.checkpoint), out)}"
    refuse_existing(out, [stem], getattr(args, "overwrite", False))
    protocol = get_protocol(args.protocol) if args.protocol else val_protocol(cfg, setting)
    protocol, lpips_note = lpips_status(protocol)
    result = summary(evaluate(restore_fn, sets, protocol, task_context=task_context,
                              progress=getattr(args, "progress", True), desc="eval"))
    print(validation_table(result))
    if lpips_note:
        print(f"\n{lpips_note}")
    write_results(result, out, stem=stem)
    print(f"results written to {out}")
    return 0


def evaluate_photos(folder: str, restore_fn: Callable[[np.ndarray], np.ndarray],
                    args: argparse.Namespace) -> int:
    """NIQE and BRISQUE of every photo under ``folder``, as given and restored; prints the
    table, writes ``photos_<name>.json``. Returns the exit status (0)."""
    from aioir.data.io import list_images, read_images_skipping
    from aioir.files import path_component
    from aioir.metrics.noref import photos_table, score_photos
    from aioir.report.writers import write_json

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"--photos {folder}: no such folder")
    paths = list_images(root)
    if not paths:
        raise ValueError(f"--photos {folder}: no image files in it")
    checkpoint = Path(args.checkpoint).resolve()
    name = path_component(args.name or root.resolve().name)
    runs_eval = checkpoint.parent.parent / "eval" if checkpoint.parent.name == "checkpoints" \
        else checkpoint.parent / "eval"
    out = Path(args.out) if args.out else runs_eval
    label = result_label(checkpoint, out)  # outside the run: the run's name too (never replaced)
    stem = f"photos_{name}" if label == checkpoint.stem else f"photos_{name}_{label}"
    refuse_existing(out, [stem], getattr(args, "overwrite", False))
    skipped: list[str] = []
    photos = ((str(paths[k].relative_to(root)), img)
              for k, img in read_images_skipping(paths, skipped))
    result = score_photos(restore_fn, photos, total=len(paths),
                          progress=bool(getattr(args, "progress", True)))
    result.update(name=name, folder=str(root.resolve()), checkpoint=str(checkpoint),
                  skipped=skipped)
    print(photos_table(result, label=checkpoint.stem))
    for note in [*skipped, *result["notes"]]:
        print(f"note: {note}", file=sys.stderr)
    path = write_json(out / f"{stem}.json", result)
    print(f"results written to {path}")
    return 0


def _lpips_table(summary: dict[str, Any]) -> str:
    from aioir.markdown import markdown_table

    per_task = summary["per_task"]
    cols = list(per_task) + ["Average"]
    row = [f"{per_task[c]['lpips']:.4f}" for c in per_task] + [f"{summary['average']['lpips']:.4f}"]
    return markdown_table(["LPIPS", *cols], [["model", *row]])


def evaluate_setting(setting: str, root: str | None, restore_fn: Callable[[np.ndarray],
                     np.ndarray], meta: dict[str, Any], args: argparse.Namespace, *,
                     task_context: Any = None) -> int:
    """Evaluate ``restore_fn`` on every test set of ``setting`` under ``root``; print the tables
    and write CSV/JSON. Returns the exit status (0)."""
    from aioir.engine.evaluation import evaluate, lpips_status, task_mismatch
    from aioir.metrics import get_protocol
    from aioir.report.tables import INPUT_ROW, results_table
    from aioir.report.writers import write_results
    from aioir.settings import get_setting
    from aioir.settings.assemble import build_test_sets

    s = get_setting(setting).for_tasks(None)
    if not root and s.needs_root:
        raise ValueError(f"--root is required with --setting {s.name} (see docs/datasets.md)")
    warning = task_mismatch(list(s.task_names), meta.get("tasks") or None)  # [] = not known
    if warning:
        print(warning, file=sys.stderr)
    protocol_arg = getattr(args, "protocol", None)
    protocol, lpips_note = lpips_status(get_protocol(protocol_arg) if protocol_arg else s.protocol)
    checkpoint = Path(getattr(args, "checkpoint", "model"))
    out = Path(args.out) if getattr(args, "out", None) else checkpoint.resolve().parent / "eval"
    model_row = checkpoint.stem
    label = result_label(checkpoint, out)
    stems = {group: f"eval_{s.name}_{label}" + ("" if group == "main" else f"_{group}")
             for group in s.groups}  # one safe component each (write_results)
    refuse_existing(out, list(stems.values()), getattr(args, "overwrite", False))
    sets, _notes = build_test_sets(s, root)
    results = evaluate(restore_fn, sets, protocol, measure_input=True,
                       progress=getattr(args, "progress", True), desc=f"eval {s.name}",
                       task_context=task_context)
    written = []
    for group in s.groups:
        if group not in results:
            print(f"[{group}] no test sets found (optional); skipped")
            continue
        result = results[group]
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
        written += write_results(summary, out, stem=stems[group])
    print(f"\nresults written to {out}: {', '.join(p.name for p in written)}")
    return 0
