"""Set up a run folder (resolved config, environment, log file) and train.

Shared by ``aioir train``, ``aioir demo`` and ``aioir bench``.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aioir import __version__
from aioir.checkpoint import latest_checkpoint
from aioir.config.schema import RunConfig
from aioir.config.yaml_io import dump_yaml_text
from aioir.engine.build import build_run
from aioir.engine.trainer import Trainer, resolve_resume
from aioir.files import write_error, write_text
from aioir.runlock import check_free, run_folder_lock

LOG = logging.getLogger("aioir")


def environment() -> dict[str, Any]:
    """Versions, git commit and command line, written into every run folder."""
    import numpy
    import torch

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


class _RunLogFile(logging.FileHandler):
    """``train.log``: a record that cannot be written (a full disk) is reported once, in one
    line, instead of a traceback per record; the run itself stops at its next checkpoint or
    metrics write, which name the file."""

    failed = False

    def handleError(self, record: logging.LogRecord) -> None:  # logging's name
        if self.failed:
            return
        self.failed = True
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            sys.stderr.write(f"aioir: {write_error(exc, self.baseFilename, 'log')}\n")
        else:
            super().handleError(record)


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
            fh = _RunLogFile(path)
            fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(fh)


def prepare_run_dir(cfg: RunConfig, run_dir: Path, *, is_main: bool = True,
                    step: int | None = None) -> Path | None:
    """Record the resolved config and the environment in the run folder (rank 0); returns the
    config file written.

    A run starting at step 0 writes ``config.yaml`` and ``environment.json``. A run resumed at
    ``step`` (default: the step of the folder's latest checkpoint) never rewrites them: the
    steps already run used that config. It records its own beside them, in
    ``configs/config_<step>.yaml`` and ``configs/environment_<step>.json`` (``_2``, ``_3``, ...
    when the same step is resumed again), so every config the run has used is kept.
    """
    if not is_main:
        return None
    run_dir = Path(run_dir)
    if step is None:
        latest = latest_checkpoint(run_dir / "checkpoints")
        step = int(latest.stem.split("_")[1]) if latest is not None else 0
    env = json.dumps(environment(), indent=2)
    if step == 0:
        _refuse_foreign_files(run_dir)
    if step == 0 or not (run_dir / "config.yaml").is_file():
        write_text(run_dir / "environment.json", env, what="run environment")
        return write_text(run_dir / "config.yaml", dump_yaml_text(cfg), what="run config")
    folder = run_dir / "configs"
    stem, n = f"{step:08d}", 1
    while (folder / f"config_{stem}.yaml").exists():
        n += 1
        stem = f"{step:08d}_{n}"
    write_text(folder / f"environment_{stem}.json", env, what="run environment")
    return write_text(folder / f"config_{stem}.yaml", dump_yaml_text(cfg), what="run config")


#: the files a run writes at the top of its folder
RUN_FILES = ("config.yaml", "environment.json", "metrics.jsonl", "train.log")


def _refuse_foreign_files(run_dir: Path) -> None:
    """A run starting at step 0 rewrites its folder's run files; refuse when they are not an
    earlier aioir run's (its ``environment.json`` says so), e.g. ``--out`` pointing at a folder
    of configs."""
    present = [name for name in RUN_FILES if (run_dir / name).exists()]
    if not present:
        return
    try:
        ours = "aioir" in json.loads((run_dir / "environment.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        ours = False
    if not ours:
        raise ValueError(f"{run_dir} holds {', '.join(present)}, not written by an aioir run; "
                         "refusing to overwrite: choose another --out")


def train(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    resume: str | None = None,
    dist: Any = None,
    allow_changes: bool = False,
    on_step: Callable[[int], None] | None = None,
    on_eval: Callable[[int], None] | None = None,
):
    """Build the run, prepare its folder and train; returns
    :class:`aioir.engine.trainer.TrainResult`.

    Everything that can be wrong with the config (bad values, unknown model or strategy
    options, a missing dataset) is found by :func:`aioir.engine.build.build_run` before the
    run folder is written; a fresh run refuses a folder that already holds checkpoints, a
    folder another process is training into is refused (:mod:`aioir.runlock`), and a resume
    whose config changes the run's maths is refused unless ``allow_changes``
    (:mod:`aioir.engine.resume`).
    ``on_step(step)`` is called after every optimizer step (progress displays, benchmarks),
    ``on_eval(1)`` after every validation image.
    """
    run_dir = Path(run_dir)
    is_main = dist is None or dist.is_main
    if is_main:
        check_free(run_dir)
    resolve_resume(run_dir, resume)
    device = dist.device if dist is not None and dist.world_size > 1 else None
    parts = build_run(cfg, device=device)
    with run_folder_lock(run_dir, enabled=is_main):
        # what the Trainer logs while it loads (e.g. "resumed from ...") is held until the run
        # folder is prepared (a refused resume writes nothing), then reaches train.log too
        with _held_log_records() as held:
            trainer = Trainer(parts, run_dir, resume=resume, dist=dist,
                              allow_changes=allow_changes)
            prepare_run_dir(cfg, run_dir, is_main=is_main, step=trainer.step)
            if is_main:
                setup_logging(run_dir)
                held.release_to(run_dir / "train.log")
        return trainer.fit(on_step=on_step, on_eval=on_eval)


class _HeldRecords(logging.Handler):
    """Keeps the ``aioir`` log records emitted while a run is set up, for its ``train.log``."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def release_to(self, path: Path) -> None:
        """Hand the held records to the file handler of ``path`` (set up by setup_logging)."""
        target = str(Path(path).resolve())
        for h in logging.getLogger("aioir").handlers:
            if isinstance(h, logging.FileHandler) and h.baseFilename == target:
                for record in self.records:
                    h.handle(record)
        self.records = []


class _held_log_records:  # a context manager used like a function
    def __enter__(self) -> _HeldRecords:
        logger = logging.getLogger("aioir")
        if logger.getEffectiveLevel() > logging.INFO:  # as setup_logging sets it
            logger.setLevel(logging.INFO)
        self.handler = _HeldRecords()
        logger.addHandler(self.handler)
        return self.handler

    def __exit__(self, *exc: Any) -> None:
        logging.getLogger("aioir").removeHandler(self.handler)
