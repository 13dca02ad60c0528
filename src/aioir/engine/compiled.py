"""``train.compile``: the training forward through ``torch.compile``, checkpoints unchanged.

The Trainer compiles the module it calls each step (backbone + strategy + extra losses, inside
DDP when distributed), never the modules it saves: ``torch.compile`` returns a wrapper whose
``state_dict`` keys start with ``_orig_mod.``, and checkpoints, the EMA and exports read the
plain ``model`` / ``strategy`` objects, so a compiled run's checkpoint loads into an
uncompiled one and back. Hooks on the backbone (TUR's tap of ``model.uem_tap``) fire inside the
compiled region; gradient strategies take their per-task gradients with ``autograd.grad``
through the compiled graph; a Python side effect dynamo cannot capture is a graph break
(slower, never wrong).

>>> import torch
>>> net = torch.nn.Linear(2, 2)
>>> fast = compile_module(net, "eager")
>>> bool(torch.equal(fast(torch.ones(1, 2)), net(torch.ones(1, 2))))
True
>>> list(net.state_dict()) == ["weight", "bias"]   # the saved module keeps its keys
True
>>> check_backend("inductr", "train.compile_backend")
Traceback (most recent call last):
...
aioir.config.errors.ConfigError: train.compile_backend: 'inductr' is not a torch.compile backend; did you mean 'inductor'? Known: aot_eager, eager, inductor
"""  # noqa: E501 - the doctest's expected output is one line

from __future__ import annotations

from typing import cast

import torch
import torch.nn as nn

from aioir.config.schema import COMPILE_BACKENDS as BACKENDS  # noqa: F401
from aioir.config.schema import check_backend  # noqa: F401


def compile_module(module: nn.Module, backend: str = "inductor") -> nn.Module:
    """``torch.compile(module)``: a wrapper to call; keep saving ``module`` itself."""
    # torch.compile of a module returns an OptimizedModule (an nn.Module); typed as a callable
    return cast(nn.Module, torch.compile(module, backend=backend))
