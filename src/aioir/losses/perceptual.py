"""``perceptual``: the VGG16 perceptual loss TransWeather trains with.

TransWeather's ``train.py``: ``loss = smooth_l1(pred, gt) + 0.04 * perceptual(pred, gt)`` where
``perceptual`` is the mean over the ReLU outputs ``relu1_2``, ``relu2_2``, ``relu3_3`` of
torchvision's ImageNet-trained ``vgg16().features`` (layers 3, 8, 15) of the MSE between the
features of ``pred`` and ``gt``. The images go in as they are ([0, 1], no ImageNet mean/std),
as in the authors' code; ``imagenet_norm=True`` normalises them first.

The VGG16 layers are built here, with the same indices as ``torchvision.models.vgg16().features``,
so a torchvision VGG16 state dict file (``vgg16-397923af.pth``; keys ``features.N.weight``) or a
features-only one (``N.weight``) loads without torchvision. Nothing is downloaded: the weights
path is required.

>>> import torch
>>> state = vgg16_features().state_dict()  # random weights, for the example only
>>> loss = PerceptualLoss(weights=state, weight=1.0)
>>> x = torch.rand(1, 3, 16, 16)
>>> float(loss(x, x)), bool(loss(x, 1 - x) > 0)
(0.0, True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from aioir.losses import LOSSES

#: (in, out) channels of VGG16's convolutions up to relu3_3; "M" is a 2x2 max-pool
_VGG16_CFG: tuple = ((3, 64), (64, 64), "M", (64, 128), (128, 128), "M",
                     (128, 256), (256, 256), (256, 256))
#: index of each ReLU output in ``vgg16().features``
LAYERS: dict[str, int] = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

WeightsArg = Union[str, "os.PathLike[str]", Mapping[str, torch.Tensor], None]


def vgg16_features(depth: int = 16) -> nn.Sequential:
    """The first ``depth`` modules of VGG16's ``features`` (conv 3x3 pad 1, ReLU, max-pool 2).

    Indices match torchvision's, e.g. 0, 2 (conv1_1, conv1_2), 5, 7, 10, 12, 14.

    >>> [i for i, m in enumerate(vgg16_features()) if isinstance(m, nn.Conv2d)]
    [0, 2, 5, 7, 10, 12, 14]
    """
    layers: list[nn.Module] = []
    for item in _VGG16_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(item[0], item[1], 3, padding=1), nn.ReLU(inplace=False)]
    return nn.Sequential(*layers[:depth])


def _load_weights(weights: WeightsArg) -> dict[str, torch.Tensor]:
    if weights is None:
        raise ValueError(
            "the perceptual loss needs ImageNet VGG16 weights and none can be downloaded here: "
            "pass weights=PATH to a torchvision VGG16 state dict (for example vgg16-397923af.pth, "
            "keys 'features.N.weight') or to a features-only state dict ('N.weight')"
        )
    if isinstance(weights, Mapping):
        state = dict(weights)
    else:
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"no VGG16 weights at {path}: provide a torchvision VGG16 state dict file "
                "(vgg16-397923af.pth) yourself, it is not downloaded"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
    if any(k.startswith("features.") for k in state):
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    return state


@LOSSES.register("perceptual")
class PerceptualLoss(nn.Module):
    """``weight * mean_l MSE(phi_l(pred), phi_l(gt))`` over VGG16 ReLU outputs ``layers``.

    Args:
        weights: path to (or mapping of) VGG16 weights, required (see the module docstring).
        layers: names among ``relu1_2``, ``relu2_2``, ``relu3_3``.
        weight: factor on the loss (TransWeather's lambda 0.04).
        imagenet_norm: normalise inputs with the ImageNet mean/std (off in TransWeather).

    The VGG parameters are frozen and stay in eval mode.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self, weights: WeightsArg = None, layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3"),
        weight: float = 0.04, imagenet_norm: bool = False,
    ) -> None:
        super().__init__()
        unknown = [n for n in layers if n not in LAYERS]
        if unknown or not layers:
            raise ValueError(f"layers must be among {list(LAYERS)}, got {list(layers)}")
        self.taps = sorted(LAYERS[n] for n in layers)
        by_depth = sorted(LAYERS.items(), key=lambda t: t[1])
        self.layer_names = [n for n, i in by_depth if i in self.taps]
        self.vgg = vgg16_features(self.taps[-1] + 1)
        state = _load_weights(weights)
        own = self.vgg.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise ValueError(f"VGG16 weights lack {missing[:4]}: not a VGG16 state dict?")
        self.vgg.load_state_dict({k: state[k] for k in own}, strict=True)
        self.vgg.requires_grad_(False)
        self.vgg.eval()
        self.weight = float(weight)
        self.imagenet_norm = imagenet_norm
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.vgg.eval()
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The tapped ReLU outputs of ``x`` (B, 3, H, W), shallow to deep."""
        if self.imagenet_norm:
            x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.vgg):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return out

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.features(gt)
        terms = [F.mse_loss(a, b) for a, b in zip(self.features(pred), target)]
        return self.weight * torch.stack(terms).mean()
