"""Atomic checkpoint files that load with ``torch.load(weights_only=True)``.

A checkpoint is written to a temporary file in the same folder, flushed and fsync'ed, then
renamed over its final name (``os.replace`` is atomic on POSIX), so a crash at any moment leaves
either the previous file or the new one, never a truncated file. The temporary file's name
carries the writer's process id, so a run started later removes those a killed run left
(:func:`aioir.files.remove_stale_temporaries`) and never one a live process is writing.

>>> import tempfile, torch, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> p = save_checkpoint({"step": 3, "w": torch.ones(2)}, d / "step_00000003.pt")
>>> load_checkpoint(p)["step"]
3
>>> latest_checkpoint(d).name
'step_00000003.pt'
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import torch

from aioir.files import atomic_write

CHECKPOINT_FORMAT = "aioir-checkpoint"
CHECKPOINT_VERSION = 1
_STEP_RE = re.compile(r"^step_(\d+)\.pt$")


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (:func:`aioir.files.atomic_write`: the user's
    umask, no temporary file left on error); returns the path. A full or read-only disk raises
    :class:`aioir.errors.OutputError` naming the file; the checkpoints already in the folder
    are untouched."""
    path = Path(path)
    with atomic_write(path, what="checkpoint") as fh:
        torch.save(state, fh)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``: tensors and plain containers only).

    A file that is not a ``torch.save`` file, a damaged one, or one holding other Python
    objects (which could run code when unpickled) raises a ``ValueError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise ValueError(f"cannot load checkpoint {path}: the file is empty")
    if not (head.startswith(b"PK") or head.startswith(b"\x80")):  # zip (torch.save) or pickle
        raise ValueError(f"cannot load checkpoint {path}: not a PyTorch checkpoint file")
    try:
        return torch_load(path, weights_only=True)
    except Exception as exc:  # corrupt file, pickle with code objects, ...
        raise ValueError(f"cannot load checkpoint {path}: {load_failure(exc)}") from exc


def torch_load(path: str | Path, *, weights_only: bool = True) -> Any:
    """``torch.load(path, map_location="cpu")`` without torch's warning about a pickle
    protocol above 2 (a file written by ``pickle`` or ``torch.save(..., pickle_protocol=4)``):
    the file then loads, or fails with an error the caller reports in one line; the warning
    would only put two lines of torch's internals before it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol",
                                category=UserWarning)
        return torch.load(path, map_location="cpu", weights_only=weights_only)


def load_failure(exc: Exception) -> str:
    """torch.load's failure in one line (its weights-only message suggests weights_only=False,
    which would let the file run code: never repeated here)."""
    text = str(exc)
    if "Weights only load failed" in text:
        why = _refusal_reason(text)
        if why.startswith("Unsupported operand"):  # a pickle opcode the safe loader lacks
            return ("it is a pickle the safe loader cannot read (not torch.save's format; a "
                    "pickle of protocol 4 or more, or one that builds objects), and loading it "
                    f"otherwise could run code: aioir refuses it ({why})")
        return ("it holds Python objects other than tensors and plain containers, which could "
                f"run code when loaded; aioir refuses it ({why})")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"damaged or truncated file ({first})"


def _refusal_reason(text: str) -> str:
    """The reason in torch's weights-only refusal, one sentence: after ``WeightsUnpickler
    error:`` when torch gives one, else its first line that is not the boilerplate around it.

    >>> _refusal_reason("Weights only load failed. Re-running ... trusted source.\\n\\n\\n"
    ...                 "Trying to load unsupported GLOBAL posix.system whose module posix is "
    ...                 "blocked.\\n\\nCheck the documentation of torch.load to learn more")
    'Trying to load unsupported GLOBAL posix.system whose module posix is blocked'
    """
    if "WeightsUnpickler error:" in text:
        lines = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()
    else:
        lines = [line.strip() for line in text.strip().splitlines()[1:]
                 if line.strip() and not line.strip().startswith("Check the documentation")]
    return lines[0].split(". ")[0].strip().rstrip(".") if lines else "weights_only refused it"


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by the Trainer and check its structure: a ``ValueError``
    naming the file and the missing or invalid fields for anything else (another program's
    file, a damaged or crafted one).

    >>> import tempfile, pathlib
    >>> p = save_checkpoint({"format": CHECKPOINT_FORMAT, "step": 1}, pathlib.Path(
    ...     tempfile.mkdtemp()) / "step_00000001.pt")
    >>> load_training_checkpoint(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: checkpoint .../step_00000001.pt is damaged or not a complete aioir training checkpoint: missing or invalid config.model.name, task_names, model
    """  # noqa: E501 - the doctest's expected output is one line
    path = Path(path)
    return check_training_checkpoint(load_checkpoint(path), path)


def is_training_checkpoint(state: Any) -> bool:
    """Whether an object read from a file claims to be an aioir training checkpoint (its
    ``format`` field), complete or not; released weights from other programs do not.

    >>> is_training_checkpoint({"format": CHECKPOINT_FORMAT}), is_training_checkpoint({"params": {}})
    (True, False)
    """
    return isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT


def check_training_checkpoint(state: Any, path: str | Path) -> dict[str, Any]:
    """``state`` (read from ``path``) if it is a complete aioir training checkpoint, else a
    ``ValueError`` naming the file and what is missing (see :func:`load_training_checkpoint`)."""
    path = Path(path)
    if not is_training_checkpoint(state):
        raise ValueError(f"{path} is not an aioir training checkpoint")

    def tensors(value: Any) -> bool:
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())

    config = state.get("config")
    model = config.get("model") if isinstance(config, dict) else None
    model = model if isinstance(model, dict) else {}
    checks = {
        "config.model.name": isinstance(model.get("name"), str),
        "config.model.options": isinstance(model.get("options") or {}, dict),
        "task_names": isinstance(state.get("task_names"), list)
        and all(isinstance(t, str) for t in state["task_names"]),
        "step": isinstance(state.get("step"), int) and state["step"] >= 0,
        "model": tensors(state.get("model")),
        "ema": state.get("ema") is None or tensors(state.get("ema")),
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"checkpoint {path} is damaged or not a complete aioir training "
                         f"checkpoint: missing or invalid {', '.join(bad)}")
    return state


def checkpoint_path(folder: str | Path, step: int) -> Path:
    """Conventional file name of the checkpoint at ``step``."""
    return Path(folder) / f"step_{step:08d}.pt"


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoints in ``folder`` sorted by step."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint with the highest step in ``folder``, or None."""
    cps = list_checkpoints(folder)
    return cps[-1] if cps else None


def prune_checkpoints(folder: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints (``keep <= 0`` keeps everything)."""
    if keep <= 0:
        return
    for p in list_checkpoints(folder)[:-keep]:
        p.unlink(missing_ok=True)
