"""Everything the bench needs from the run machinery, in one place.

The bench trains cells through the stable entry point :func:`aioir.engine.run.train` and reads
run folders only through what they contain. The few places that depend on how runs build their
data and validation set (the shared data cache, the degraded test images, where the final
evaluation is written) are the functions of this module, so a change of the data path touches
this file only.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aioir.config.schema import RunConfig

# the run machinery (torch) is imported where it is used: every spawned bench worker imports this
# module before it can tie its life to the parent's (measured: see aioir/bench/__init__.py)

__all__ = [
    "train_cell",
    "final_evaluation",
    "is_finished",
    "completed_steps",
    "prepare_data",
    "input_evaluation",
]


def train_cell(cfg: RunConfig, run_dir: Path, on_step: Callable[[int], None] | None = None,
               on_eval: Callable[[int], None] | None = None):
    """Train one cell, continuing its latest checkpoint if there is one (``TrainResult``);
    ``on_step(step)`` after every step, ``on_eval(1)`` after every validation image."""
    from aioir.engine.run import train

    return train(cfg, run_dir, resume="auto", on_step=on_step, on_eval=on_eval)


def _eval_path(run_dir: Path, steps: int) -> Path:
    return Path(run_dir) / "eval" / f"step_{steps:08d}.json"


def final_evaluation(run_dir: str | Path, steps: int) -> dict[str, Any] | None:
    """The evaluation a cell wrote at its last step, with per-image ``records``; else ``None``.

    ``None`` also for a file that does not parse (a crash while writing it): the cell is then
    resumed, which rewrites it.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> final_evaluation(d, 10) is None
    True
    >>> (d / "eval").mkdir()
    >>> _ = (d / "eval" / "step_00000010.json").write_text(
    ...     '{"task_names": ["rain"], "records": [{"task": "rain", "name": "a", "psnr": 30.0, '
    ...     '"ssim": 0.9}]}')
    >>> final_evaluation(d, 10)["records"][0]["psnr"]
    30.0
    """
    path = _eval_path(Path(run_dir), steps)
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    records = summary.get("records") if isinstance(summary, dict) else None
    if not records or not all({"task", "name", "psnr", "ssim"} <= set(r) for r in records):
        raise ValueError(f"{path} holds no per-image records (task, name, psnr, ssim)")
    return summary


def is_finished(run_dir: str | Path, steps: int) -> bool:
    """A cell is finished when its final checkpoint and its final evaluation are both present."""
    from aioir.checkpoint import checkpoint_path

    run_dir = Path(run_dir)
    return (checkpoint_path(run_dir / "checkpoints", steps).is_file()
            and final_evaluation(run_dir, steps) is not None)


def completed_steps(run_dir: str | Path) -> int:
    """The step of a cell's latest checkpoint (0 when it has none)."""
    from aioir.checkpoint import latest_checkpoint

    latest = latest_checkpoint(Path(run_dir) / "checkpoints")
    return int(latest.stem.split("_")[1]) if latest is not None else 0


def prepare_data(cfg: RunConfig, *, workers: int, progress: bool) -> None:
    """Synthesise the cell's training stream into ``cfg.data.cache`` (reused when present)."""
    if not cfg.data.cache:
        return
    from aioir.engine.build import build_run

    cfg = copy.deepcopy(cfg)
    cfg.data.cache_workers = workers
    cfg.train.progress = progress
    build_run(cfg, device="cpu")  # builds the run's training stream, which fills the cache


def evaluation_sets(cfg: RunConfig) -> tuple[list[Any], Any]:
    """The test sets every cell is evaluated on at its end (every group of
    :func:`~aioir.settings.assemble.final_groups`), and their protocol; a config without such
    an evaluation cannot be benched, which this reports clearly (the bench checks it before it
    writes anything)."""
    from aioir.settings.assemble import (
        final_groups,
        resolve_setting,
        val_protocol,
        validation_sets,
    )

    setting = resolve_setting(cfg)
    sets, notes = validation_sets(cfg, setting, groups=final_groups(cfg))
    if not sets:
        why = "; ".join(notes) or f"val.enabled: {cfg.val.enabled}"
        raise ValueError(
            "the bench compares the cells' final per-image evaluations, but this config "
            f"validates on no test images ({why}): enable `val` and give the setting's test "
            "sets (data.root)"
        )
    return sets, val_protocol(cfg, setting)


def input_evaluation(cfg: RunConfig, progress: bool = False) -> dict[str, Any]:
    """Per-image scores of the degraded test images themselves (the row a network must beat),
    on :func:`evaluation_sets`, by the evaluation the runs use (every group: the first's at
    the top, the others under ``groups``, as a run's final evaluation)."""
    from aioir.engine.evaluation import evaluate, summary

    sets, protocol = evaluation_sets(cfg)
    return summary(evaluate(lambda img: img, sets, protocol, progress=progress,
                            desc="degraded test images"))
