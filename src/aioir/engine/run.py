"""Set up a run folder (resolved config, environment, log file) and train.

Shared by ``aioir train``, ``aioir demo`` and ``aioir bench``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from aioir.config.schema import RunConfig

LOG = logging.getLogger("aioir")


def environment() -> dict[str, Any]:
    """Versions, git commit and command line, written into every run folder."""
    import numpy
    import torch

    from aioir import __version__

    commit = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "aioir": __version__,
        "git_commit": commit,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
        "argv": sys.argv,
    }


def setup_logging(run_dir: Path | None = None, level: int = logging.INFO) -> None:
    """Console logging, plus ``train.log`` in the run folder when given."""
    logger = logging.getLogger("aioir")
    logger.setLevel(level)
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               for h in logger.handlers):
        h = logging.StreamHandler()
        h.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.addHandler(h)
    if run_dir is not None:
        path = str((run_dir / "train.log").resolve())
        if not any(isinstance(h, logging.FileHandler) and h.baseFilename == path
                   for h in logger.handlers):
            fh = logging.FileHandler(path)
            fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(fh)


def prepare_run_dir(cfg: RunConfig, run_dir: Path, *, is_main: bool = True) -> None:
    """Write the resolved config and the environment into the run folder (rank 0)."""
    from aioir.config import dump_yaml

    if not is_main:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_yaml(cfg, run_dir / "config.yaml")
    tmp = run_dir / "environment.json.tmp"
    tmp.write_text(json.dumps(environment(), indent=2))
    os.replace(tmp, run_dir / "environment.json")


def train(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    resume: str | None = None,
    dist: Any = None,
    on_step: Callable[[int], None] | None = None,
):
    """Build the run, prepare its folder and train; returns
    :class:`aioir.engine.trainer.TrainResult`.

    Everything that can be wrong with the config (bad values, unknown model or strategy
    options, a missing dataset) is found by :func:`aioir.engine.build.build_run` before the
    run folder is written; a fresh run refuses a folder that already holds checkpoints.
    ``on_step(step)`` is called after every optimizer step (progress displays, benchmarks).
    """
    from aioir.engine.build import build_run
    from aioir.engine.trainer import Trainer, resolve_resume

    run_dir = Path(run_dir)
    is_main = dist is None or dist.is_main
    resolve_resume(run_dir, resume)
    device = dist.device if dist is not None and dist.world_size > 1 else None
    parts = build_run(cfg, device=device)
    prepare_run_dir(cfg, run_dir, is_main=is_main)
    if is_main:
        setup_logging(run_dir)
    trainer = Trainer(parts, run_dir, resume=resume, dist=dist)
    return trainer.fit(on_step=on_step)
