"""``diffusion``: any registered backbone made time-conditioned (the diffusion training paradigm).

The network (model floor), one job per module: :mod:`~aioir.models.diffusion.schedule` (the noise
schedule and DDPM maths, T = 50), :mod:`~aioir.models.diffusion.conditioning` (time embedding,
FiLM heads, the choice of blocks), :mod:`~aioir.models.diffusion.moe` (MoE adapters with
time-based prompts), :mod:`~aioir.models.diffusion.network` (the wrapper and its engine hooks),
:mod:`~aioir.models.diffusion.generative` (the generative objective and the sampler),
:mod:`~aioir.models.diffusion.regularizers`, :mod:`~aioir.models.diffusion.prior`,
:mod:`~aioir.models.diffusion.finetune` (L_reg, L_orthog and the GEF step). This ``__init__``
registers :class:`~aioir.models.diffusion.network.DiffusionNet` so that configs can name it
(``model: {name: diffusion, options: {backbone: nafnet, ...}}``). The workflow that trains it
(matching, incremental stages, the pipeline) is :mod:`aioir.diffusion`, above the engine. See
docs/diffusion.md.
"""

from __future__ import annotations

from aioir.models import MODELS, TEST_OPTIONS
from aioir.models.diffusion.network import DiffusionNet

MODELS.register("diffusion")(DiffusionNet)

TEST_OPTIONS["diffusion"] = {
    "backbone": "tiny_unet",
    "backbone_options": {"width": 8, "blocks": 1, "global_tone": True},
    "embed_dim": 16,
    "test_t": 5,
    "moe_experts": 3,
    "moe_blocks": 2,
}
