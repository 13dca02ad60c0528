"""Pad an image batch to a size a backbone accepts, and crop its output back.

Padding is always added at the bottom and right, so the top-left ``H x W`` of any full-resolution
feature map (for example the tap an uncertainty head reads) is aligned with the input.

>>> import torch
>>> x = torch.rand(1, 3, 13, 30)
>>> y, (h, w) = pad_to_multiple(x, 8)
>>> tuple(y.shape), (h, w)
((1, 3, 16, 32), (13, 30))
>>> torch.equal(crop_to(y, h, w), x)
True

Under ``torch.jit.trace`` (TorchScript and ONNX export) the sizes are traced values, not Python
ints, so the same arithmetic is recorded as graph operations (:func:`_pad_traced`) and the
exported network pads any input size as the eager one does, instead of the example's padding
frozen into the graph.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def padded_size(n: int, multiple: int, minimum: int = 0) -> int:
    """Smallest size >= max(n, minimum) that is a multiple of ``multiple``."""
    n = _larger(n, minimum)
    return ((n + multiple - 1) // multiple) * multiple


def pad_to(x: torch.Tensor, height: int, width: int, mode: str = "reflect") -> torch.Tensor:
    """Pad ``x`` (B,C,H,W) at the bottom/right to ``height x width``.

    ``reflect`` padding needs the pad to be smaller than the side; when it is not (tiny inputs
    padded to a large multiple) the padding is applied in reflect steps, then falls back to
    ``replicate`` so any size works.
    """
    if torch.jit.is_tracing():
        return _pad_traced(x, height, width, mode)
    h, w = x.shape[-2:]
    if (h, w) == (height, width):
        return x
    if height < h or width < w:
        raise ValueError(f"cannot pad {h}x{w} down to {height}x{width}")
    if mode != "reflect":
        return F.pad(x, (0, width - w, 0, height - h), mode=mode)
    while x.shape[-2] < height or x.shape[-1] < width:
        ch, cw = x.shape[-2:]
        ph = min(height - ch, ch - 1)
        pw = min(width - cw, cw - 1)
        if ph <= 0 and pw <= 0:  # a side of 1 pixel cannot be reflected
            return F.pad(x, (0, width - cw, 0, height - ch), mode="replicate")
        x = F.pad(x, (0, max(pw, 0), 0, max(ph, 0)), mode="reflect")
    return x


#: reflect steps recorded in a traced graph: each at most doubles a side, so inputs down to
#: 1/16 of the padded size pad as in eager mode (smaller ones fail in the exported model)
TRACED_REFLECT_STEPS = 4


def _pad_traced(x: torch.Tensor, height: Any, width: Any, mode: str) -> torch.Tensor:
    """:func:`pad_to` with sizes that may be traced tensors: no Python branch on their values.

    Reflect padding is applied in :data:`TRACED_REFLECT_STEPS` steps of at most ``side - 1``
    pixels each (the eager loop's rule; a step of 0 pixels is a no-op).
    """
    if mode != "reflect":
        h, w = x.shape[-2:]
        return F.pad(x, (0, width - w, 0, height - h), mode=mode)
    for _ in range(TRACED_REFLECT_STEPS):
        h, w = x.shape[-2:]
        ph = torch.minimum(torch.as_tensor(height - h), torch.as_tensor(h - 1))
        pw = torch.minimum(torch.as_tensor(width - w), torch.as_tensor(w - 1))
        # tensors as pads keep the traced graph shape-generic (F.pad takes them; its stub says int)
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")  # type: ignore[arg-type]
    return x


def _larger(a: Any, b: Any) -> Any:
    """``max(a, b)`` for ints and for traced sizes (0-dim tensors under ``torch.jit.trace``)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return torch.maximum(torch.as_tensor(a), torch.as_tensor(b))
    return max(a, b)


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: str = "reflect", minimum: int = 0, square: bool = False
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``x`` so both sides are multiples of ``multiple`` (and >= ``minimum``).

    With ``square=True`` both sides are padded to the larger one (Uformer as MiOIR runs it).
    Returns the padded tensor and the original ``(H, W)`` for :func:`crop_to`.
    """
    h, w = x.shape[-2:]
    ph, pw = padded_size(h, multiple, minimum), padded_size(w, multiple, minimum)
    if square:
        ph = pw = _larger(ph, pw)
    return pad_to(x, ph, pw, mode), (h, w)


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Top-left ``height x width`` crop (undoes :func:`pad_to_multiple`)."""
    return x[..., :height, :width]
