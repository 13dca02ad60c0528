"""MoE adapters with time-based prompts (the paper's Fig. 6(d), N_E = 10 experts).

One adapter sits after a conditioned block (by default the last two blocks in forward order: the
decoder levels of a U-shaped network). The *prompt* is the time embedding of the task's matched
step ``t_mat``; a dense softmax router reads ``[global-average-pooled feature; embedding(t)]`` and
mixes all ``N_E`` experts (no top-k), each a 1x1 bottleneck ``C -> h -> C`` with GELU:

``y = f + gamma * sum_e pi_e(f, t) * E_e(f)``, ``pi = softmax(W_r [GAP(f); emb(t)] + b_r)``,

``gamma`` a per-channel output scale initialised to zero, so an adapter is the identity until it
has been trained (an adapter added to a pre-trained network changes nothing at first).

The experts run as two grouped 1x1 convolutions (one pass for all experts); the test checks it
against a loop over experts written out.

>>> import torch
>>> a = MoEAdapter(channels=8, embed_dim=6, experts=10)
>>> f = torch.rand(2, 8, 5, 4)
>>> torch.equal(a(f, torch.rand(2, 6)), f)     # zero output scale: the identity at init
True
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class MoEAdapter(nn.Module):
    """Dense mixture of ``experts`` bottleneck adapters, routed by pooled features and ``emb(t)``.

    Args:
        channels: C, the feature width of the block it follows.
        embed_dim: D, the width of the time embedding (the prompt).
        experts: N_E (the paper: 10).
        hidden: bottleneck width per expert (default ``max(C // 4, 4)``).
    """

    def __init__(self, channels: int, embed_dim: int, experts: int = 10,
                 hidden: int | None = None) -> None:
        super().__init__()
        if experts < 1:
            raise ValueError(f"an MoE adapter needs >= 1 expert, got {experts}")
        self.channels = int(channels)
        self.experts = int(experts)
        self.hidden = int(hidden or max(channels // 4, 4))
        self.router = nn.Linear(channels + embed_dim, experts)
        self.expand = nn.Conv2d(channels, experts * self.hidden, 1)
        self.project = nn.Conv2d(experts * self.hidden, experts * channels, 1, groups=experts)
        self.scale = nn.Parameter(torch.zeros(channels))

    def routing(self, feat: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Router weights ``pi`` (B, N_E), summing to 1 per sample."""
        pooled = feat.mean(dim=(2, 3))
        return torch.softmax(self.router(torch.cat([pooled, emb.to(pooled.dtype)], dim=1)), dim=1)

    def expert_outputs(self, feat: torch.Tensor) -> torch.Tensor:
        """Every expert's output ``E_e(f)`` (B, N_E, C, H, W)."""
        b, _, h, w = feat.shape
        out = self.project(F.gelu(self.expand(feat)))
        return out.view(b, self.experts, self.channels, h, w)

    def forward(self, feat: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # noqa: D102
        pi = self.routing(feat, emb)
        mixed = (pi[:, :, None, None, None] * self.expert_outputs(feat)).sum(dim=1)
        return feat + self.scale.view(1, -1, 1, 1) * mixed
