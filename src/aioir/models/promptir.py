"""``promptir``: PromptIR (Potlapalli et al., NeurIPS 2023), the official decoder-prompt network.

The Restormer body of :mod:`aioir.models.restormer` with a prompt block at three decoder levels.
A prompt-generation block holds ``prompt_len`` learned prompts ``(prompt_dim, S, S)``; the
globally pooled decoder feature picks a softmax mix of them, which is bilinearly resized to the
feature size and passed through a 3x3 conv. The prompt is concatenated to the feature, a
transformer block (``noise_level<k>``, heads = ``heads[2]`` at every level) mixes them and a 1x1
conv (``reduce_noise_level<k>``) brings the channels back. Level by level (official sizes):

* latent (384 ch) + prompt3 (320 ch, 16x16) -> ``noise_level3`` at 704 -> 192 ch -> ``up4_3``;
* decoder level 3 (192) + prompt2 (128 ch, 32x32) -> ``noise_level2`` at 320 -> 192 -> ``up3_2``;
* decoder level 2 (96) + prompt1 (64 ch, 64x64) -> ``noise_level1`` at 160 -> 96 -> ``up2_1``.

With the defaults it has exactly 35,592,263 parameters and the keys of the released
``model.ckpt`` (inside a Lightning ``state_dict`` with a ``net.`` prefix; see
:mod:`aioir.models.pretrained`). That release carries six 1x1 convs (``chnl_reduce1-3``,
``reduce_noise_channel_1-3``) that the forward pass never uses; ``unused_convs=False`` drops them,
as the MiOIR/TUR copy does (35,376,967 parameters, BasicSR ``params``/``params_ema``). The names
of unused parameters are listed in ``unused_in_forward`` (DDP needs
``find_unused_parameters=True`` when it is not empty).

Inputs are reflect-padded at the bottom/right to a multiple of ``pad_multiple`` (8; MiOIR uses 64)
and the output is cropped back. Note that the prompt weights come from a global average pool, so
the padding slightly changes the output, as it does in the authors' tiled/padded evaluations.

>>> import torch
>>> net = PromptIR(**TEST_OPTIONS["promptir"])
>>> net(torch.rand(1, 3, 11, 9)).shape
torch.Size([1, 3, 11, 9])
>>> sorted(net.unused_in_forward)[:2]
['chnl_reduce1.weight', 'chnl_reduce2.weight']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from aioir.models import MODELS, TEST_OPTIONS
from aioir.models.padding import crop_to, pad_to_multiple
from aioir.models.restormer import (
    Downsample,
    OverlapPatchEmbed,
    TransformerBlock,
    Upsample,
    check_levels,
    levels_from_state_dict,
    transformer_stage,
)


class PromptGenBlock(nn.Module):
    """Input-conditioned prompt: softmax-weighted mix of learned prompts, resized, conv3x3.

    ``w = softmax(linear_layer(mean_hw(x)))`` over ``prompt_len`` prompts;
    ``prompt = conv3x3(resize(sum_i w_i P_i, H x W))``. Prompts are initialised uniform in [0, 1).

    >>> blk = PromptGenBlock(prompt_dim=4, prompt_len=3, prompt_size=5, lin_dim=6)
    >>> blk(torch.rand(2, 6, 7, 9)).shape
    torch.Size([2, 4, 7, 9])
    """

    def __init__(self, prompt_dim: int, prompt_len: int, prompt_size: int, lin_dim: int) -> None:
        super().__init__()
        self.prompt_param = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size))
        self.linear_layer = nn.Linear(lin_dim, prompt_len)
        self.conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        weights = F.softmax(self.linear_layer(x.mean(dim=(-2, -1))), dim=1)  # (B, L)
        prompts = self.prompt_param[0]  # (L, C, S, S)
        prompt = torch.einsum("bl,lcij->bcij", weights, prompts)
        prompt = F.interpolate(prompt, size=(h, w), mode="bilinear", align_corners=False)
        return self.conv3x3(prompt)


@MODELS.register("promptir")
class PromptIR(nn.Module):
    """PromptIR with decoder prompts (``decoder=True`` in the official code).

    Args:
        in_channels, out_channels, dim, num_blocks, num_refinement_blocks, heads,
        ffn_expansion_factor, bias, layernorm_type, pad_multiple: as
            :class:`~aioir.models.restormer.Restormer`.
        prompt_dims: prompt channels at decoder levels 1, 2, 3 (official 64, 128, 320).
        prompt_sizes: learned prompt side at levels 1, 2, 3 (official 64, 32, 16).
        prompt_len: number of prompts per level (5).
        unused_convs: keep the six never-used 1x1 convs of the official release (needed to load
            ``model.ckpt`` strictly). Their shapes: ``chnl_reduce<k>`` maps ``prompt_dims[k]``
            channels to ``prompt_dims[k]`` (k = 1, 2) and ``prompt_dims[3]`` to ``4 * prompt_dims[1]``
            (320 -> 256); ``reduce_noise_channel_<k>`` maps ``dim * 2^(k-1)`` plus those outputs
            to ``dim * 2^(k-1)``.
    """

    uem_tap = "refinement"

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layernorm_type: str = "WithBias",
        prompt_dims: Sequence[int] = (64, 128, 320),
        prompt_sizes: Sequence[int] = (64, 32, 16),
        prompt_len: int = 5,
        unused_convs: bool = True,
        pad_multiple: int = 8,
    ) -> None:
        super().__init__()
        check_levels(num_blocks, heads, pad_multiple)
        if in_channels != out_channels:
            raise ValueError("promptir adds its input to the output: in_channels must equal out_channels")
        if len(prompt_dims) != 3 or len(prompt_sizes) != 3:
            raise ValueError("prompt_dims and prompt_sizes need one entry per decoder level (3)")
        self.pad_multiple = pad_multiple
        self.uem_channels = 2 * dim
        p1, p2, p3 = prompt_dims

        def stage(channels: int, depth: int, level: int) -> nn.Sequential:
            return transformer_stage(
                channels, depth, heads[level], ffn_expansion_factor, bias, layernorm_type
            )

        def mixer(channels: int) -> TransformerBlock:
            return TransformerBlock(channels, heads[2], ffn_expansion_factor, bias, layernorm_type)

        # Registration order follows the official class so state_dict() keys come out in its order.
        self.patch_embed = OverlapPatchEmbed(in_channels, dim)
        self.prompt1 = PromptGenBlock(p1, prompt_len, prompt_sizes[0], dim * 2)
        self.prompt2 = PromptGenBlock(p2, prompt_len, prompt_sizes[1], dim * 4)
        self.prompt3 = PromptGenBlock(p3, prompt_len, prompt_sizes[2], dim * 8)
        unused: list[str] = []
        if unused_convs:
            r3 = 4 * p1
            self.chnl_reduce1 = nn.Conv2d(p1, p1, 1, bias=bias)
            self.chnl_reduce2 = nn.Conv2d(p2, p2, 1, bias=bias)
            self.chnl_reduce3 = nn.Conv2d(p3, r3, 1, bias=bias)
            self.reduce_noise_channel_1 = nn.Conv2d(dim + p1, dim, 1, bias=bias)
            unused += ["chnl_reduce1", "chnl_reduce2", "chnl_reduce3", "reduce_noise_channel_1"]
        self.encoder_level1 = stage(dim, num_blocks[0], 0)
        self.down1_2 = Downsample(dim)
        if unused_convs:
            self.reduce_noise_channel_2 = nn.Conv2d(dim * 2 + p2, dim * 2, 1, bias=bias)
            unused.append("reduce_noise_channel_2")
        self.encoder_level2 = stage(dim * 2, num_blocks[1], 1)
        self.down2_3 = Downsample(dim * 2)
        if unused_convs:
            self.reduce_noise_channel_3 = nn.Conv2d(dim * 4 + r3, dim * 4, 1, bias=bias)
            unused.append("reduce_noise_channel_3")
        self.encoder_level3 = stage(dim * 4, num_blocks[2], 2)
        self.down3_4 = Downsample(dim * 4)
        self.latent = stage(dim * 8, num_blocks[3], 3)
        self.up4_3 = Upsample(dim * 4)
        self.reduce_chan_level3 = nn.Conv2d(dim * 2 + dim * 4, dim * 4, 1, bias=bias)
        self.noise_level3 = mixer(dim * 8 + p3)
        self.reduce_noise_level3 = nn.Conv2d(dim * 8 + p3, dim * 4, 1, bias=bias)
        self.decoder_level3 = stage(dim * 4, num_blocks[2], 2)
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, 1, bias=bias)
        self.noise_level2 = mixer(dim * 4 + p2)
        self.reduce_noise_level2 = nn.Conv2d(dim * 4 + p2, dim * 4, 1, bias=bias)
        self.decoder_level2 = stage(dim * 2, num_blocks[1], 1)
        self.up2_1 = Upsample(dim * 2)
        self.noise_level1 = mixer(dim * 2 + p1)
        self.reduce_noise_level1 = nn.Conv2d(dim * 2 + p1, dim * 2, 1, bias=bias)
        self.decoder_level1 = stage(dim * 2, num_blocks[0], 0)
        self.refinement = stage(dim * 2, num_refinement_blocks, 0)
        self.output = nn.Conv2d(dim * 2, out_channels, 3, 1, 1, bias=bias)
        #: parameter names that never receive a gradient (present only to load the release)
        self.unused_in_forward: tuple[str, ...] = tuple(
            f"{m}.{n}" for m in unused for n, _ in self.get_submodule(m).named_parameters()
        )

    @classmethod
    def options_from_state_dict(cls, state: Mapping[str, Any]) -> dict[str, Any]:
        """Options read off a checkpoint: the Restormer levels
        (:func:`~aioir.models.restormer.levels_from_state_dict`), the decoder prompts
        (``prompt<k>.prompt_param`` is ``(1, prompt_len, prompt_dim, size, size)``) and the unused
        convs exactly when the checkpoint has them (official vs MiOIR copy)."""
        options = levels_from_state_dict(state)
        params = [state[f"prompt{k}.prompt_param"] for k in (1, 2, 3)]
        options.update(
            prompt_dims=[int(p.shape[2]) for p in params],
            prompt_sizes=[int(p.shape[3]) for p in params],
            prompt_len=int(params[0].shape[1]),
            unused_convs="chnl_reduce1.weight" in state,
        )
        return options

    @staticmethod
    def _prompted(
        feat: torch.Tensor, prompt: PromptGenBlock, mix: nn.Module, reduce: nn.Module
    ) -> torch.Tensor:
        return reduce(mix(torch.cat([feat, prompt(feat)], 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_to_multiple(x, self.pad_multiple)
        enc1 = self.encoder_level1(self.patch_embed(xp))
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        latent = self.latent(self.down3_4(enc3))
        latent = self._prompted(latent, self.prompt3, self.noise_level3, self.reduce_noise_level3)
        dec3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(latent), enc3], 1)))
        dec3 = self._prompted(dec3, self.prompt2, self.noise_level2, self.reduce_noise_level2)
        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], 1)))
        dec2 = self._prompted(dec2, self.prompt1, self.noise_level1, self.reduce_noise_level1)
        dec1 = self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], 1))
        out = self.output(self.refinement(dec1)) + xp
        return crop_to(out, h, w)


TEST_OPTIONS["promptir"] = {
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_refinement_blocks": 1,
    "heads": [1, 1, 2, 2],
    "prompt_dims": [8, 16, 40],
    "prompt_sizes": [8, 4, 2],
    "prompt_len": 5,
    "unused_convs": True,
}
