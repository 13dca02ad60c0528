"""Kept for existing imports: the checkpoint file format lives in :mod:`aioir.checkpoint`, which
the engine (writing) and inference (reading) both use, so neither imports the other."""

from aioir.checkpoint import (  # noqa: F401
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
