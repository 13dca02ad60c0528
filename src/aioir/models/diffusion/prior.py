"""The pre-training prior that L_reg needs: ``theta_pre`` and the parameter importances.

After generative pre-training, the importance of every parameter is measured at the pre-trained
weights from the gradients of the generative loss over ``batches`` batches of clean images
(:func:`compute_prior`), and stored with ``theta_pre`` in one safetensors file
(``prior.safetensors`` in the pre-training run folder): keys ``theta/<name>``, ``fisher/<name>``
(mean squared gradient) and ``absgrad/<name>`` (mean absolute gradient), metadata
``format = aioir-diffusion-prior``, the batch count and the seed.

>>> import torch, tempfile, pathlib
>>> from aioir.models.diffusion.network import DiffusionNet
>>> _ = torch.manual_seed(0)
>>> net = DiffusionNet(backbone_options={"width": 8}, timesteps=25)
>>> prior = compute_prior(net, [torch.rand(2, 3, 16, 16)], seed=0)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "prior.safetensors"
>>> _ = save_prior(path, prior)
>>> back = load_prior(path)
>>> back.count, torch.equal(back.theta["time.mlp.0.weight"], net.time.mlp[0].weight)
(1, True)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from aioir.models.diffusion.generative import draw_noise, generative_losses
from aioir.models.diffusion.regularizers import accumulate_importance

FORMAT = "aioir-diffusion-prior"


@dataclass
class Prior:
    """``theta_pre`` and the importances of every trainable parameter, by parameter name."""

    theta: dict[str, torch.Tensor]
    fisher: dict[str, torch.Tensor]
    absgrad: dict[str, torch.Tensor]
    count: int
    meta: dict[str, str] = field(default_factory=dict)


def compute_prior(net: nn.Module, batches: Iterable[torch.Tensor], *, seed: int = 0) -> Prior:
    """Importances of ``net``'s trainable parameters from the generative loss on clean batches.

    Each batch draws its steps and noise from a generator seeded with ``seed``; the network is
    evaluated in eval mode (no dropout) and left unchanged (no optimizer step).
    """
    params = {n: p for n, p in net.named_parameters() if p.requires_grad}
    generator = torch.Generator().manual_seed(seed)
    was_training = net.training
    net.eval()

    def gradients():
        for x0 in batches:
            ref = next(iter(params.values()))
            x0 = x0.to(device=ref.device, dtype=ref.dtype)
            t, eps = draw_noise(net, x0, generator)
            loss = generative_losses(net, x0, t, eps).mean()
            grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
            yield {n: (g if g is not None else torch.zeros_like(p))
                   for (n, p), g in zip(params.items(), grads)}

    try:
        fisher, absgrad, count = accumulate_importance(gradients())
    finally:
        net.train(was_training)
    theta = {n: p.detach().clone() for n, p in params.items()}
    return Prior(theta, fisher, absgrad, count, {"seed": str(seed)})


def save_prior(path: str | Path, prior: Prior) -> Path:
    """Write ``prior`` to a safetensors file (atomically)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for key, table in (("theta", prior.theta), ("fisher", prior.fisher),
                       ("absgrad", prior.absgrad)):
        for name, value in table.items():
            tensors[f"{key}/{name}"] = value.detach().contiguous().cpu()
    meta = {"format": FORMAT, "count": str(prior.count), **prior.meta}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # ranks may write at once
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def load_prior(path: str | Path) -> Prior:
    """Read a prior file written by :func:`save_prior` (clear errors for anything else)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no prior file at {path} (written by `aioir diffusion pretrain`)")
    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata() or {})
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a diffusion prior file (format {meta.get('format')!r})")
    tables: dict[str, dict[str, torch.Tensor]] = {"theta": {}, "fisher": {}, "absgrad": {}}
    for key, value in load_file(str(path)).items():
        kind, _, name = key.partition("/")
        if kind not in tables:
            raise ValueError(f"{path}: unexpected entry {key!r}")
        tables[kind][name] = value
    if not (set(tables["theta"]) == set(tables["fisher"]) == set(tables["absgrad"])):
        raise ValueError(f"{path}: theta, fisher and absgrad name different parameters")
    count = int(meta.pop("count", "0"))
    meta.pop("format", None)
    return Prior(tables["theta"], tables["fisher"], tables["absgrad"], count, meta)
