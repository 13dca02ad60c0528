"""MoE adapters with time-based prompts (the paper's Fig. 6(d), N_E = 10 experts).

Two forms (``model.options.moe_form``):

* ``"eedtp"`` (default): :class:`EEDTPAdapter`, the adapter of the authors' released code
  (xin1u/EEDTP ``networks/moe_adapter.py``), one after each decoder level of the U-shaped
  network. For a feature ``f`` of ``C`` channels at step ``t``: a router MLP
  ``Linear(2C, C) - GELU - Linear(C, N_E)`` on ``[GAP(f); Embedding(t)]`` (an
  ``nn.Embedding(T + 1, C)`` of the adapter's own, ``t`` clamped to ``0..T``), softmax weights
  ``pi``; ``N_E`` experts ``Conv3x3(C, h) - GELU - Conv3x3(h, h) - GELU - Conv1x1(h, C)`` with
  ``h = max(C // 4, 16)``; ``y = f + gamma * sum_e pi_e E_e(f)``, ``gamma`` one scalar
  initialised to zero. On NAFNet width 32 the four adapters (C = 256, 128, 64, 32) have
  2,919,724 parameters; at width 64, 11,432,684 (the paper's Tab. 5 says +1.8 M).
* ``"bottleneck"``: :class:`MoEAdapter`, the project's earlier, lighter form: the router a single
  ``Linear`` on ``[GAP(f); emb(t)]`` (the shared time embedding), experts 1x1 ``C -> h -> C``
  with GELU (``h = max(C // 4, 4)``), a per-channel output scale initialised to zero.

Both are the identity at initialisation (an adapter added to a pre-trained network changes
nothing at first).

>>> import torch
>>> a = MoEAdapter(channels=8, embed_dim=6, experts=10)
>>> f = torch.rand(2, 8, 5, 4)
>>> torch.equal(a(f, torch.rand(2, 6)), f)     # zero output scale: the identity at init
True
>>> e = EEDTPAdapter(channels=8, experts=10, T=50)
>>> torch.equal(e(f, torch.tensor([4, 47])), f)
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

    def forward(self, feat: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        pi = self.routing(feat, emb)
        mixed = (pi[:, :, None, None, None] * self.expert_outputs(feat)).sum(dim=1)
        return feat + self.scale.view(1, -1, 1, 1) * mixed


class EEDTPAdapter(nn.Module):
    """EEDTP's MoE adapter: experts 3x3-3x3-1x1, router MLP on ``[GAP(f); Embedding(t)]``.

    Args:
        channels: C, the feature width of the block it follows.
        experts: N_E (the paper: 10).
        T: the number of diffusion steps (the embedding has ``T + 1`` rows).
        reduction: ``h = max(C // reduction, 16)``.
    """

    def __init__(self, channels: int, experts: int = 10, T: int = 50, reduction: int = 4) -> None:
        super().__init__()
        if experts < 1:
            raise ValueError(f"an MoE adapter needs >= 1 expert, got {experts}")
        c = int(channels)
        self.channels = c
        self.experts = int(experts)
        self.hidden = max(c // int(reduction), 16)
        h = self.hidden
        self.expert = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, h, 3, 1, 1), nn.GELU(), nn.Conv2d(h, h, 3, 1, 1),
                          nn.GELU(), nn.Conv2d(h, c, 1))
            for _ in range(self.experts))
        self.time_emb = nn.Embedding(int(T) + 1, c)
        self.router = nn.Sequential(nn.Linear(2 * c, c), nn.GELU(), nn.Linear(c, self.experts))
        self.scale = nn.Parameter(torch.zeros(1))

    def routing(self, feat: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Router weights ``pi`` (B, N_E), summing to 1 per sample."""
        pooled = feat.mean(dim=(2, 3))
        steps = t.long().clamp(0, self.time_emb.num_embeddings - 1)
        emb = self.time_emb(steps).to(pooled.dtype)
        return torch.softmax(self.router(torch.cat([pooled, emb], dim=1)), dim=1)

    def forward(self, feat: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        pi = self.routing(feat, t)
        mixed = torch.zeros_like(feat)
        for e, expert in enumerate(self.expert):
            mixed = mixed + pi[:, e, None, None, None] * expert(feat)
        return feat + self.scale * mixed
