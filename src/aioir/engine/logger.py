"""Run logging: JSONL metrics (one object per line), TensorBoard when installed.

With TensorBoard, every number of a record is a scalar named by its path (``task_loss/noise``,
``task_weight/noise``, ``lr``, ``val/noise/psnr``, ``val_avg/psnr``, ...), and the trainer adds
an image grid of restorations (``val/restorations``) at each validation.

>>> import tempfile, pathlib, json
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> log = MetricsLog(d / "metrics.jsonl", tensorboard=False)
>>> log.write({"step": 1, "loss": 0.5}); log.write({"step": 2, "loss": 0.4}); log.close()
>>> MetricsLog(d / "metrics.jsonl", tensorboard=False, resume_step=1).close()
>>> [json.loads(l)["step"] for l in (d / "metrics.jsonl").read_text().splitlines()]
[1]
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

LOG = logging.getLogger("aioir")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


class MetricsLog:
    """Appends metric records to a JSONL file (and TensorBoard scalars when available).

    On resume (``resume_step``), records from steps after the checkpoint are dropped first, so
    the file never holds the same step twice after a crash and restart; so is a line a crash or
    a full disk cut short. A failed write raises :class:`aioir.errors.OutputError` naming the
    file.
    """

    def __init__(self, path: str | Path, tensorboard: bool = True, resume_step: int | None = None):
        from aioir.files import write_error, write_text

        self.path = Path(path)
        if resume_step is not None and self.path.exists():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            steps = [_step_of(line, self.path) for line in lines]
            kept = [line for line, step in zip(lines, steps)
                    if step is not None and step <= resume_step]
            write_text(self.path, "".join(line + "\n" for line in kept), what="metrics log")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise write_error(exc, self.path, "metrics log") from exc
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.path.parent / "tensorboard"))
            except Exception:  # tensorboard not installed: JSONL only
                self._tb = None

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (must contain ``step``)."""
        from aioir.files import write_error

        record = _jsonable(record)
        try:
            self._fh.write(json.dumps(record, sort_keys=True) + "\n")
            self._fh.flush()
        except OSError as exc:
            raise write_error(exc, self.path, "metrics log") from exc
        if self._tb is not None:
            step = int(record.get("step", 0))
            for key, value in _flatten(record).items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, step)
            # on disk now, like the JSONL line: a crash loses no logged step, and no background
            # thread writes into the run folder later (a paused or killed run is complete)
            self._tb.flush()

    @property
    def tensorboard(self) -> bool:
        """Whether TensorBoard events are written (TensorBoard installed and asked for)."""
        return self._tb is not None

    def add_image(self, tag: str, image: Any, step: int) -> None:
        """Log an H x W x 3 float image in [0, 1] to TensorBoard (nothing without it)."""
        if self._tb is not None:
            self._tb.add_image(tag, image, int(step), dataformats="HWC")
            self._tb.flush()

    def close(self) -> None:
        from aioir.files import write_error

        try:
            self._fh.close()
        except OSError as exc:
            raise write_error(exc, self.path, "metrics log") from exc
        if self._tb is not None:
            self._tb.close()


def _step_of(line: str, path: Path) -> int | None:
    """The step of one JSONL line; None (with a warning) for a line cut short by a crash."""
    if not line.strip():
        return None
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError, TypeError):
        LOG.warning("%s: dropped a line cut short by an earlier crash: %.60s", path, line)
        return None


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "/"))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, (int, float)):
                    out[f"{name}/{i}"] = v
        else:
            out[name] = value
    return out
