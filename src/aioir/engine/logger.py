"""Run logging: JSONL metrics (one object per line), TensorBoard when installed, and the text
log ``train.log`` (:class:`TextLog`).

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

from aioir.files import write_error, write_text

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
        self.path = Path(path)
        if resume_step is not None and self.path.exists():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            steps = [_step_of(line, self.path) for line in lines]
            kept = [line for line, step in zip(lines, steps)
                    if step is not None and step <= resume_step]
            write_text(self.path, "".join(line + "\n" for line in kept), what="metrics log")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise write_error(exc, self.path, "metrics log") from exc
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.path.parent / "tensorboard"))
            except Exception:  # noqa: BLE001 - tensorboard not installed: JSONL only
                self._tb = None

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (must contain ``step``)."""
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


class TextLog:
    """``train.log``: a text log of the run in BasicSR's manner, one line per record.

    Beside the run's own log records (``resumed from ...``, warnings; :mod:`aioir.engine.run`),
    it holds a line when training starts or resumes and ends, one per logged step (step of the
    total, learning rate, the time left at the training rate so far, seconds per step, the
    strategy's loss, each task's loss and weight, auxiliary losses), and the validation results
    (average and per task). The file is opened for appending: a resumed run adds to it. Each
    line is flushed as it is written (one ``write`` of the whole line, like ``metrics.jsonl``),
    so a crash loses no line already logged. A failed write raises
    :class:`aioir.errors.OutputError` naming the file.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.log"
    >>> log = TextLog(path, "demo", total_steps=100, start_step=0)
    >>> log.train({"step": 10, "lr": 1e-3, "loss": 0.0412, "task_loss": {"noise": 0.036},
    ...            "task_weight": {"noise": 0.17}}, seconds_per_step=0.5)
    >>> log.close("finished")
    >>> print(path.read_text().splitlines()[1].split(" INFO ")[1])
    [demo][step:     10/100, lr:(1.000e-03)] [eta: 0:00:45, time: 0.500 s/step] loss: 4.1200e-02 loss_noise: 3.6000e-02 w_noise: 0.1700
    """  # noqa: E501 - the doctest's expected output is one line

    def __init__(self, path: str | Path, name: str, total_steps: int, start_step: int = 0):
        self.path = Path(path)
        self.name = name
        self.total = int(total_steps)
        self._width = len(str(self.total))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise write_error(exc, self.path, "training log") from exc
        how = f"resumed at step {start_step}" if start_step else "started"
        self._line(f"[{name}] training {how}, {self.total} steps")

    def _line(self, text: str) -> None:
        import time

        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        try:
            self._fh.write(f"{stamp},{int(now % 1 * 1000):03d} INFO {text}\n")
            self._fh.flush()
        except OSError as exc:
            raise write_error(exc, self.path, "training log") from exc

    def train(self, record: dict[str, Any], seconds_per_step: float | None) -> None:
        """One line for a training record (as :class:`MetricsLog` holds it)."""
        import datetime

        step = int(record["step"])
        head = f"[{self.name}][step: {step:{self._width + 3}d}/{self.total}"
        if "lr" in record:
            head += f", lr:({float(record['lr']):.3e})"
        head += "]"
        if seconds_per_step is not None:
            eta = datetime.timedelta(seconds=round(seconds_per_step * max(self.total - step, 0)))
            head += f" [eta: {eta}, time: {seconds_per_step:.3f} s/step]"
        parts = [head]
        if "loss" in record:
            parts.append(f"loss: {float(record['loss']):.4e}")
        losses, weights = record.get("task_loss", {}), record.get("task_weight", {})
        for task, value in losses.items():
            parts.append(f"loss_{task}: {float(value):.4e}")
        for task, value in weights.items():
            parts.append(f"w_{task}: {float(value):.4f}")
        for key, value in (record.get("aux") or {}).items():
            parts.append(f"{key}: {float(value):.4e}")
        if record.get("stepped") is False:
            parts.append("(non-finite loss: step skipped)")
        self._line(" ".join(parts))

    def validation(self, step: int, result: dict[str, Any]) -> None:
        """The validation results of ``step`` (:func:`aioir.engine.evaluation.summary`)."""
        def metrics(values: dict[str, Any]) -> str:
            return "  ".join(f"{k}: {float(v):.4f}" for k, v in values.items()
                             if k != "count" and isinstance(v, (int, float)))

        self._line(f"[{self.name}][step: {step}] validation average  {metrics(result['average'])}")
        for task, values in result.get("per_task", {}).items():
            self._line(f"[{self.name}][step: {step}] validation {task}  {metrics(values)}")

    def close(self, status: str = "finished") -> None:
        """Write the closing line (``status``: finished, interrupted) and close the file."""
        if self._fh.closed:
            return
        try:
            self._line(f"[{self.name}] training {status}")
        finally:
            try:
                self._fh.close()
            except OSError as exc:
                raise write_error(exc, self.path, "training log") from exc
