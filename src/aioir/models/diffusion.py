"""``diffusion``: any registered backbone made time-conditioned (the diffusion training paradigm).

The network and its training live in :mod:`aioir.diffusion`; this module only registers
:class:`aioir.diffusion.network.DiffusionNet` so that configs can name it
(``model: {name: diffusion, options: {backbone: nafnet, ...}}``). See docs/diffusion.md.
"""

from __future__ import annotations

from aioir.diffusion.network import DiffusionNet
from aioir.models import MODELS, TEST_OPTIONS

MODELS.register("diffusion")(DiffusionNet)

TEST_OPTIONS["diffusion"] = {
    "backbone": "tiny_unet",
    "backbone_options": {"width": 8, "blocks": 1, "global_tone": True},
    "embed_dim": 16,
    "test_t": 5,
    "moe_experts": 3,
    "moe_blocks": 2,
}
