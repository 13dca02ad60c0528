"""``airnet``: AirNet (Li et al., CVPR 2022), all-in-one restoration with a contrastive encoder.

Two parts, with the authors' parameter and buffer names (``state_dicts/airnet.json``):

* ``E`` — CBDE, the contrastive-based degradation encoder: a MoCo pair of ``ResEncoder``\\ s
  (``E.E.encoder_q`` trained, ``E.E.encoder_k`` a frozen momentum copy, m = 0.999), a queue of
  ``queue_size`` negative keys ``E.E.queue`` (256, K) with ``E.E.queue_ptr``, temperature 0.07.
  The full-resolution 64-ch output of the query encoder's first block (``inter``) is the
  degradation representation fed to the restorer; the pooled 256-d vector and its MLP head are
  used only by the contrastive loss.
* ``R`` — DGRN, the degradation-guided restoration network: head conv, 5 groups x 5 DGB blocks,
  each DGB holding two DGMs (modulated deformable conv whose offsets and masks come from
  ``cat[x, inter]``, plus an SFT modulation by ``inter``), and a tail conv.

``forward(x)`` returns the restored image in train and eval mode. As in the official test the
query image serves as key, and only the query encoder's first block runs (the rest of the
encoder does not affect the output). The output is ``tail(features)`` with no residual to the
input and no output activation: the official network does not clamp, its evaluation clips to
[0, 1].

Training (the official two-stage schedule) goes through :meth:`AirNet.training_outputs`, fed by
two crops of the same degraded image; see ``docs/models.md``.

The queue length is a constructor choice (K = batch size * 256 in the authors' code: 1280 for
All.pth); :meth:`AirNet.options_from_state_dict` reads it from a checkpoint so a loader builds
the matching network.

>>> import torch
>>> net = AirNet(**TEST_OPTIONS["airnet"]).eval()
>>> net(torch.rand(1, 3, 9, 7)).shape
torch.Size([1, 3, 9, 7])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from aioir.models import MODELS, TEST_OPTIONS
from aioir.models.deform_conv import modulated_deform_conv2d
from aioir.models.pretrained import count_indexed

# ----------------------------------------------------------------------------- restorer (DGRN)


def _conv(cin: int, cout: int, k: int, bias: bool = True) -> nn.Conv2d:
    """'same' convolution (padding k // 2), as the authors' ``default_conv``."""
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


class DCNLayer(nn.Module):
    """AirNet's ``DCN_layer``: a modulated deformable conv guided by the degradation map.

    ``conv_offset_mask`` maps ``cat[x, inter]`` to ``3 * k * k`` channels, split in three equal
    chunks ``o1, o2, m``; the offsets are ``cat(o1, o2)`` (torchvision/mmcv layout) and the mask
    ``sigmoid(m)``. The offset conv starts at zero (the layer starts as a plain conv with mask
    0.5); the weight starts uniform in +-1/sqrt(fan_in). No bias by default (AirNet).

    >>> layer = DCNLayer(4, 4, 3)
    >>> layer(torch.rand(1, 4, 5, 6), torch.rand(1, 4, 5, 6)).shape
    torch.Size([1, 4, 5, 6])
    """

    def __init__(self, channels_in: int, channels_out: int, kernel_size: int, bias: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.padding = (kernel_size - 1) // 2
        self.weight = nn.Parameter(torch.empty(channels_out, channels_in, kernel_size, kernel_size))
        self.conv_offset_mask = nn.Conv2d(
            2 * channels_in, 3 * kernel_size * kernel_size, kernel_size, padding=self.padding
        )
        self.bias = nn.Parameter(torch.zeros(channels_out)) if bias else None
        bound = 1.0 / math.sqrt(channels_in * kernel_size * kernel_size)
        nn.init.uniform_(self.weight, -bound, bound)
        offset = self.conv_offset_mask
        assert isinstance(offset, nn.Conv2d) and offset.bias is not None  # built with a bias
        nn.init.zeros_(offset.weight)
        nn.init.zeros_(offset.bias)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        o1, o2, m = torch.chunk(self.conv_offset_mask(torch.cat([x, inter], 1)), 3, dim=1)
        offset = torch.cat([o1, o2], 1)
        return modulated_deform_conv2d(
            x.contiguous(), offset, torch.sigmoid(m), self.weight, self.bias,
            stride=1, padding=self.padding, dilation=1,
        )


class SFTLayer(nn.Module):
    """Spatial feature transform: ``x * gamma(inter) + beta(inter)`` (1x1 convs, LeakyReLU 0.1)."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()

        def branch() -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, bias=False),
                nn.LeakyReLU(0.1, True),
                nn.Conv2d(channels_out, channels_out, 1, bias=False),
            )

        self.conv_gamma = branch()
        self.conv_beta = branch()

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        return x * self.conv_gamma(inter) + self.conv_beta(inter)


class DGM(nn.Module):
    """Degradation-guided module: ``x + dcn(x, inter) + sft(x, inter)``."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.dcn = DCNLayer(channels, channels, kernel_size, bias=False)
        self.sft = SFTLayer(channels, channels)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        return x + self.dcn(x, inter) + self.sft(x, inter)


class DGB(nn.Module):
    """Degradation-guided block: DGM - conv - DGM - conv (LeakyReLU 0.1 between), plus input."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.dgm1 = DGM(channels, kernel_size)
        self.dgm2 = DGM(channels, kernel_size)
        self.conv1 = _conv(channels, channels, kernel_size)
        self.conv2 = _conv(channels, channels, kernel_size)

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.dgm1(x, inter), 0.1)
        out = F.leaky_relu(self.conv1(out), 0.1)
        out = F.leaky_relu(self.dgm2(out, inter), 0.1)
        return self.conv2(out) + x


class DGG(nn.Module):
    """Degradation-guided group: ``n_blocks`` DGBs then a conv (``body[-1]``), plus input."""

    def __init__(self, channels: int, kernel_size: int, n_blocks: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *[DGB(channels, kernel_size) for _ in range(n_blocks)],
            _conv(channels, channels, kernel_size),
        )

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        res = x
        for block in list(self.body)[:-1]:
            res = block(res, inter)
        return self.body[-1](res) + x


class DGRN(nn.Module):
    """The restorer: head conv, ``n_groups`` DGGs + conv with a long skip, ``tap``, tail conv.

    ``tap`` is a parameter-free identity on the last full-resolution feature (the tail's input),
    the place an uncertainty head reads.
    """

    def __init__(
        self, n_feats: int = 64, n_groups: int = 5, n_blocks: int = 5, kernel_size: int = 3
    ) -> None:
        super().__init__()
        self.head = nn.Sequential(_conv(3, n_feats, kernel_size))
        self.body = nn.Sequential(
            *[DGG(n_feats, kernel_size, n_blocks) for _ in range(n_groups)],
            _conv(n_feats, n_feats, kernel_size),
        )
        self.tail = nn.Sequential(_conv(n_feats, 3, kernel_size))
        self.tap = nn.Identity()

    def forward(self, x: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        res = feat
        for group in list(self.body)[:-1]:
            res = group(res, inter)
        res = self.body[-1](res) + feat
        return self.tail(self.tap(res))


# ----------------------------------------------------------------------------- encoder (CBDE)


class ResBlock(nn.Module):
    """conv-BN-LeakyReLU-conv-BN plus a 1x1 conv-BN shortcut, then LeakyReLU 0.1."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.LeakyReLU(0.1, True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.backbone(x) + self.shortcut(x), 0.1)


class ResEncoder(nn.Module):
    """``E_pre`` (full resolution, ``n_feats`` ch) -> two stride-2 blocks -> pool -> MLP.

    ``forward`` returns ``(pooled, projected, inter)``; ``inter`` is the ``E_pre`` output.
    """

    def __init__(self, n_feats: int = 64, dim: int = 256) -> None:
        super().__init__()
        self.E_pre = ResBlock(3, n_feats, stride=1)
        self.E = nn.Sequential(
            ResBlock(n_feats, dim // 2, stride=2),
            ResBlock(dim // 2, dim, stride=2),
            nn.AdaptiveAvgPool2d(1),
        )
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.LeakyReLU(0.1, True), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        inter = self.E_pre(x)
        fea = self.E(inter).flatten(1)
        return fea, self.mlp(fea), inter


class MoCo(nn.Module):
    """Momentum contrast: query encoder, frozen momentum key encoder, queue of negative keys.

    Buffers ``queue`` (dim, K), column-normalised, and ``queue_ptr`` (1,) int64.
    """

    queue: torch.Tensor
    queue_ptr: torch.Tensor

    def __init__(
        self, n_feats: int = 64, dim: int = 256, queue_size: int = 1280,
        momentum: float = 0.999, temperature: float = 0.07,
    ) -> None:
        super().__init__()
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.K, self.m, self.T = queue_size, momentum, temperature
        self.encoder_q = ResEncoder(n_feats, dim)
        self.encoder_k = ResEncoder(n_feats, dim)
        for p_q, p_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            p_k.data.copy_(p_q.data)
            p_k.requires_grad = False
        self.register_buffer("queue", F.normalize(torch.randn(dim, queue_size), dim=0))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def momentum_update(self) -> None:
        """``theta_k <- m * theta_k + (1 - m) * theta_q`` for every parameter."""
        for p_q, p_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            p_k.mul_(self.m).add_(p_q.detach(), alpha=1.0 - self.m)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` (N, dim) at the pointer (wrapping around) and advance it by N."""
        keys = keys[-self.K :]
        n = keys.shape[0]
        ptr = int(self.queue_ptr)
        idx = (ptr + torch.arange(n, device=keys.device)) % self.K
        self.queue[:, idx] = keys.t().to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + n) % self.K

    def contrast(
        self, im_q: torch.Tensor, im_k: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One MoCo step: returns ``(logits (N, 1+K), labels (N,) zeros, inter)``.

        Updates the key encoder (momentum) before encoding the keys, then enqueues the keys.
        """
        _, q, inter = self.encoder_q(im_q)
        q = F.normalize(q, dim=1)
        with torch.no_grad():
            self.momentum_update()
            _, k, _ = self.encoder_k(im_k)
            k = F.normalize(k, dim=1)
        l_pos = (q * k).sum(dim=1, keepdim=True)
        l_neg = q @ self.queue.clone().detach()
        logits = torch.cat([l_pos, l_neg], dim=1) / self.T
        labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
        self.enqueue(k)
        return logits, labels, inter


class CBDE(nn.Module):
    """Contrastive-based degradation encoder (holds the MoCo pair as ``E``)."""

    def __init__(self, **moco_options: Any) -> None:
        super().__init__()
        self.E = MoCo(**moco_options)


# ----------------------------------------------------------------------------- the network


@MODELS.register("airnet")
class AirNet(nn.Module):
    """AirNet: restorer ``R`` (DGRN) guided by the contrastive degradation encoder ``E`` (CBDE).

    Args:
        n_feats: restorer width and the encoder's full-resolution width (64).
        n_groups: DGG groups (5). n_blocks: DGB blocks per group (5).
        embed_dim: encoder output / contrastive dimension (256; the middle stage has half).
        queue_size: MoCo queue length K (1280 = 5 * 256 as All.pth).
        momentum: key-encoder momentum (0.999). temperature: logits temperature (0.07).
        kernel_size: restorer kernel (3).

    Attributes for a training engine: ``train_views = 2`` (two crops of one degraded image
    per sample), ``aux_loss_weights = {"contrastive": 0.1}`` (stage-2 weight of the official
    schedule), :meth:`training_outputs`, :meth:`train_forward`, :meth:`parameter_groups`.
    """

    uem_tap = "R.tap"
    train_views = 2
    aux_loss_weights: ClassVar[dict[str, float]] = {"contrastive": 0.1}

    def __init__(
        self, n_feats: int = 64, n_groups: int = 5, n_blocks: int = 5, embed_dim: int = 256,
        queue_size: int = 1280, momentum: float = 0.999, temperature: float = 0.07,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.uem_channels = n_feats
        self.R = DGRN(n_feats, n_groups, n_blocks, kernel_size)
        self.E = CBDE(
            n_feats=n_feats, dim=embed_dim, queue_size=queue_size,
            momentum=momentum, temperature=temperature,
        )
        #: trainable parameters that ``forward(x)`` does not use (the query encoder's pooled
        #: branch and MLP head); they learn only through the contrastive loss
        self.unused_in_forward: list[str] = [
            n for n, p in self.named_parameters()
            if p.requires_grad and n.startswith(("E.E.encoder_q.E.", "E.E.encoder_q.mlp."))
        ]

    @property
    def moco(self) -> MoCo:
        """The MoCo module (``self.E.E``)."""
        return self.E.E

    def degradation_map(self, x: torch.Tensor) -> torch.Tensor:
        """``inter``: the query encoder's full-resolution degradation representation."""
        return self.moco.encoder_q.E_pre(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restore ``x`` (B, 3, H, W) in [0, 1]; any H x W; output not clamped."""
        return self.R(x, self.degradation_map(x))

    def training_outputs(
        self, x_query: torch.Tensor, x_key: torch.Tensor, restore: bool = True
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """One official training forward: ``(restored or None, {"contrastive": CE})``.

        ``x_query`` and ``x_key`` are two crops of the same degraded images (same batch size,
        same crop size); ``restored`` is the restoration of ``x_query`` (compare it with the
        query crop's ground truth). The MoCo step momentum-updates the key encoder and
        enqueues the keys (side effects, as in the authors' training). ``restore=False`` skips
        the restorer (the official encoder-only first stage).
        """
        logits, labels, inter = self.moco.contrast(x_query, x_key)
        aux = {"contrastive": F.cross_entropy(logits, labels)}
        restored = self.R(x_query, inter) if restore else None
        return restored, aux

    def train_forward(
        self, batch: Mapping[str, torch.Tensor], restore: bool = True
    ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """Generic engine hook: a training batch -> ``(prediction or None, auxiliary losses)``.

        Reads ``batch["lq_views"]`` (B, V >= 2, C, h, w): view 0 is the query (its ground truth
        is ``batch["gt"]``, so ``lq_views[:, 0]`` is ``batch["lq"]``), view 1 the key.
        """
        views = batch["lq_views"]
        if views.dim() != 5 or views.shape[1] < 2:
            raise ValueError(
                f"airnet needs lq_views of shape (B, >=2, C, h, w), got {tuple(views.shape)}"
            )
        return self.training_outputs(views[:, 0], views[:, 1], restore=restore)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by part: ``encoder`` (query encoder) and ``restorer``."""
        return {
            "encoder": [p for p in self.E.parameters() if p.requires_grad],
            "restorer": list(self.R.parameters()),
        }

    @classmethod
    def options_from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> dict[str, int]:
        """Constructor options implied by a checkpoint: ``queue_size`` and ``embed_dim`` from
        the shape (dim, K) of ``E.E.queue`` (any key prefix is accepted), and, when the
        restorer's keys are there, ``n_feats`` (``R.head.0``), ``n_groups`` and ``n_blocks``
        (the last entry of each ``body`` is a conv, not a block) and ``kernel_size``.

        >>> AirNet.options_from_state_dict({"E.E.queue": torch.zeros(256, 768)})
        {'queue_size': 768, 'embed_dim': 256}
        """
        options: dict[str, int] = {}
        for key, value in state.items():
            if key == "E.E.queue" or key.endswith(".E.E.queue"):
                options = {"queue_size": int(value.shape[1]), "embed_dim": int(value.shape[0])}
                break
        head = state.get("R.head.0.weight")
        if head is not None:
            options.update(
                n_feats=int(head.shape[0]),
                n_groups=count_indexed(state, "R.body") - 1,
                n_blocks=count_indexed(state, "R.body.0.body") - 1,
                kernel_size=int(head.shape[-1]),
            )
        return options


TEST_OPTIONS["airnet"] = {
    "n_feats": 8, "n_groups": 1, "n_blocks": 1, "embed_dim": 16, "queue_size": 12,
}
