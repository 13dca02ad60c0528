"""LPIPS (Zhang et al. 2018) through the optional ``lpips`` package, imported lazily.

``pip install -e '.[lpips]'`` (in the aioir clone) installs it. The package's ``LPIPS(net="alex")`` also needs the
ImageNet AlexNet weights of torchvision (``alexnet-owt-7be5be79.pth``); on a machine without
internet they must already be in the torch hub cache (``$TORCH_HOME/hub/checkpoints``).
"""

from __future__ import annotations

from typing import Any

import torch

from .image import ImageLike, prepare_pair

__all__ = ["LpipsUnavailableError", "load_lpips", "lpips_distance"]

_MODELS: dict[tuple[str, str], Any] = {}

_INSTALL_HINT = (
    "LPIPS needs the optional 'lpips' package: pip install -e '.[lpips]' in the aioir clone "
    "(aioir is not on PyPI; lpips pulls torchvision: install one that matches your torch build "
    "first). Its AlexNet backbone "
    "weights (torchvision's alexnet-owt-7be5be79.pth) must also be available offline, in the "
    "torch hub cache ($TORCH_HOME/hub/checkpoints, by default ~/.cache/torch/hub/checkpoints)."
)


class LpipsUnavailableError(RuntimeError):
    """The ``lpips`` package or its network weights are not available."""


def load_lpips(net: str = "alex", device: str | torch.device = "cpu") -> Any:
    """The ``lpips.LPIPS`` model for ``net`` on ``device`` (built once, then cached).

    Raises:
        LpipsUnavailableError: the package is not installed or its weights cannot be loaded.
    """
    key = (net, str(device))
    if key not in _MODELS:
        try:
            import lpips  # optional extra
        except ImportError as err:
            raise LpipsUnavailableError(_INSTALL_HINT) from err
        try:
            model = lpips.LPIPS(net=net, verbose=False)
        except Exception as err:  # download/IO errors vary by version
            raise LpipsUnavailableError(f"could not load the LPIPS {net!r} network ({err}). {_INSTALL_HINT}") from err
        _MODELS[key] = model.eval().to(device)
    return _MODELS[key]


@torch.no_grad()
def lpips_distance(
    a: ImageLike,
    b: ImageLike,
    *,
    crop_border: int = 0,
    round_uint8: bool = True,
    net: str = "alex",
    device: str | torch.device = "cpu",
) -> float:
    """LPIPS distance of two RGB images in [0, 1] (lower is more similar).

    The pair is prepared like PSNR/SSIM (clip, optional uint8 rounding, border crop; always RGB),
    brought back to [0, 1] and mapped to [-1, 1] as LPIPS expects.

    >>> import numpy as np
    >>> try:
    ...     lpips_distance(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))
    ... except LpipsUnavailableError as err:
    ...     print(".[lpips]" in str(err))
    ... else:
    ...     print(True)
    True
    """
    x, y, scale = prepare_pair(a, b, crop_border=crop_border, round_uint8=round_uint8)
    if x.shape[1] != 3:
        raise ValueError("LPIPS needs RGB images (3 channels)")
    model = load_lpips(net, device)
    x = (x / scale * 2.0 - 1.0).to(device=device, dtype=torch.float32)
    y = (y / scale * 2.0 - 1.0).to(device=device, dtype=torch.float32)
    return float(model(x, y).reshape(-1)[0])
