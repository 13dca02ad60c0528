"""Per-task evaluation of a time-conditioned network: each image at its task's ``t_mat``.

A diffusion-fine-tuned network is ``r_theta(x, t_mat[task])``: at test time it needs the task's
step (FACTS section 6). :func:`evaluate_per_task` restores every sample with its own task's step
(``net.use_task(task)``) and measures it exactly like the engine's validation
(:func:`aioir.metrics.evaluate.evaluate_pairs`, same protocol, same records). Networks without
``use_task`` (a plain backbone, the baseline of a comparison) are evaluated as they are.

>>> import numpy as np, torch
>>> from aioir.diffusion.network import DiffusionNet
>>> _ = torch.manual_seed(0)
>>> net = DiffusionNet(backbone_options={"width": 8}, tasks=["dark"], task_t={"dark": 38},
...                    require_t=True).eval()
>>> img = np.random.default_rng(0).random((24, 24, 3)).astype(np.float32)
>>> res = evaluate_per_task(net, [(img * 0.5, img, "dark", "a")], ["dark"], "mioir")
>>> res.per_task()["dark"]["count"]
1
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import torch.nn as nn


def evaluate_per_task(
    net: nn.Module,
    samples: Iterable[tuple[Any, Any, str, str]],
    task_names: Sequence[str],
    protocol: Any,
    *,
    device: Any = None,
    tile: int | None = None,
    measure_input: bool = False,
    progress: bool = False,
    task_of: Mapping[str, str] | None = None,
):
    """:class:`~aioir.metrics.evaluate.EvalResult` of ``net`` on ``samples``, each sample
    restored at its own task's time step when the network has one.

    ``task_of`` maps a sample's label (third field; a setting's test column) to the network's
    task name when they differ (e.g. ``{"REVIDE": "hazy"}``)."""
    from contextlib import nullcontext

    from aioir.inference.restore import restore_image
    from aioir.metrics.evaluate import evaluate_pairs

    current: dict[str, str] = {}
    use_task = getattr(net, "use_task", None)
    table = getattr(net, "task_t", {}) or {}

    def tagged():
        for sample in samples:
            current["task"] = (task_of or {}).get(sample[2], sample[2])
            yield sample

    def restore(img: Any) -> Any:
        task = current["task"]
        ctx = use_task(task) if callable(use_task) and task in table else nullcontext()
        with ctx:
            return restore_image(net, img, device=device, tile=tile)

    was_training = net.training
    net.eval()
    try:
        return evaluate_pairs(restore, tagged(), protocol, list(task_names), progress=progress,
                              measure_input=measure_input)
    finally:
        net.train(was_training)
