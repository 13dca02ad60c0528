"""aioir: all-in-one image restoration with task-aware optimisation strategies.

Sub-packages are imported on use (``from aioir import degradations``), so ``import aioir`` is
cheap and a missing optional extra never breaks it.
"""

__version__ = "0.1.0"
