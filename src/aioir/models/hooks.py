"""The optional training hooks a backbone may offer, written down once.

A backbone is an ``nn.Module`` whose ``forward(x)`` restores a ``(B, 3, H, W)`` batch in
``[0, 1]``. Everything else is optional; :class:`TrainingHooks` lists it, and :func:`hooks` is the
one place that reads it from a model (with the defaults below), so the engine and the strategies
never look attributes up themselves.

>>> from aioir import models
>>> h = hooks(models.build("tiny_unet", width=8))
>>> h.train_views, h.train_forward is None, h.uem_tap
(1, True, 'tap')
>>> hooks(models.build("airnet", **models.reduced_options("airnet"))).train_views
2
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn as nn

#: ``train_forward(batch, restore=True) -> (pred or None, {aux loss name: scalar})``
TrainForward = Callable[..., tuple[torch.Tensor | None, dict[str, torch.Tensor]]]


class TrainingHooks(Protocol):
    """What a backbone may define for training (every member is optional).

    * ``train_forward(batch, restore=True) -> (pred | None, aux_losses)``: a training forward
      that needs more than ``model(batch["lq"])`` (AirNet's contrastive encoder reads
      ``batch["lq_views"]``); ``restore=False`` may skip the restoration (``pred`` None) in a
      stage whose reconstruction weight is 0. Default: ``(model(lq), {})``.
    * ``train_views: int``: views of each degraded image the data must provide (default 1).
    * ``aux_loss_weights: Mapping[str, float]``: default weights of the auxiliary losses.
    * ``parameter_groups() -> {name: [parameters]}``: named groups that staged schedules may
      train alone (``train.stages[].trainable``).
    * ``unused_in_forward: Sequence[str]``: parameters ``forward(x)`` never uses (turns on
      DDP's unused-parameter search).
    * ``uem_tap: str`` and ``uem_channels: int``: the submodule whose output is the last
      full-resolution feature map, where TUR/UE hook their uncertainty head.
    * ``task_context(task) -> context manager``: for a network that needs to know the task of
      the images it restores (the diffusion wrapper: each task at its ``t_mat``), ``forward(x)``
      inside the context restores images of ``task``. Every evaluation
      (:func:`aioir.engine.evaluation.evaluate`) enters it around each test set's images.
      Default: none (all-in-one networks are task-agnostic at test time).

    * ``degradation_probabilities(x) -> (B, C)``: for a network that routes each image by the
      degradation it recognises (``aware_unet``'s classifier), the probabilities it gives to
      each class for a batch in ``[0, 1]``: the run's tasks in their order, then, when
      ``C`` is one more, "clean" (left as it is). ``aioir restore`` reports the most likely one
      per image (:meth:`aioir.inference.restore.Restorer.detect`). Default: none.

    The backbone's factory may also define ``options_from_state_dict(state)`` (constructor
    options implied by a released checkpoint, :mod:`aioir.models.pretrained`).
    """

    train_views: int
    aux_loss_weights: Mapping[str, float]
    unused_in_forward: Sequence[str]
    uem_tap: str
    uem_channels: int

    def train_forward(self, batch: dict[str, Any], restore: bool = True
                      ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]: ...

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]: ...

    def task_context(self, task: str) -> AbstractContextManager[None]: ...

    def degradation_probabilities(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Hooks:
    """The hooks of one model, defaults filled in (see :class:`TrainingHooks`)."""

    train_forward: TrainForward | None = None
    train_views: int = 1
    aux_loss_weights: dict[str, float] = field(default_factory=dict)
    parameter_groups: Callable[[], dict[str, list[nn.Parameter]]] | None = None
    unused_in_forward: tuple[str, ...] = ()
    uem_tap: str | None = None
    uem_channels: int | None = None
    task_context: Callable[[str], AbstractContextManager[None]] | None = None
    degradation_probabilities: Callable[[torch.Tensor], torch.Tensor] | None = None


def hooks(model: nn.Module | None) -> Hooks:
    """The :class:`Hooks` ``model`` defines (all defaults for ``None``)."""
    if model is None:
        return Hooks()

    def method(name: str) -> Callable | None:
        fn = getattr(model, name, None)
        return fn if callable(fn) else None

    channels = getattr(model, "uem_channels", None)
    return Hooks(
        train_forward=method("train_forward"),
        train_views=int(getattr(model, "train_views", 1)),
        aux_loss_weights=dict(getattr(model, "aux_loss_weights", None) or {}),
        parameter_groups=method("parameter_groups"),
        unused_in_forward=tuple(getattr(model, "unused_in_forward", None) or ()),
        uem_tap=getattr(model, "uem_tap", None),
        uem_channels=None if channels is None else int(channels),
        task_context=method("task_context"),
        degradation_probabilities=method("degradation_probabilities"),
    )
