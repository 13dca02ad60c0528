"""Restormer: the released layout, its blocks against their formulas, padding and residual."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from aioir import models
from aioir.models.restormer import Attention, ChannelLayerNorm, FeedForward

MANIFESTS = Path(__file__).parent / "manifests"
TINY = dict(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, heads=(1, 1, 2, 2))


def manifest(name: str) -> dict:
    return json.loads((MANIFESTS / f"{name}.json").read_text())


def test_full_size_matches_released_state_dict():
    man = manifest("restormer")
    with torch.device("meta"):
        net = models.build("restormer")
    shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert shapes == man["tensors"]
    assert list(shapes) == list(man["tensors"])
    assert sum(p.numel() for p in net.parameters()) == man["num_params"] == 26_126_644
    assert net.uem_channels == 96 and net.uem_tap == "refinement"


def test_layer_norms_match_their_formulas():
    x = torch.randn(2, 5, 3, 4)
    ln = ChannelLayerNorm(5, "WithBias")
    with torch.no_grad():
        ln.body.weight.uniform_(0.5, 1.5)
        ln.body.bias.uniform_(-1, 1)
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (5,), ln.body.weight, ln.body.bias, eps=1e-5)
    assert torch.allclose(ln(x), ref.permute(0, 3, 1, 2), atol=1e-5)

    bf = ChannelLayerNorm(5, "BiasFree")
    var = x.var(dim=1, keepdim=True, unbiased=False)
    assert torch.allclose(bf(x), x / torch.sqrt(var + 1e-5), atol=1e-5)
    with pytest.raises(ValueError):
        ChannelLayerNorm(5, "Other")


def test_mdta_attention_per_head_by_hand():
    torch.manual_seed(0)
    att = Attention(dim=6, num_heads=2, bias=False)
    with torch.no_grad():
        att.temperature.copy_(torch.tensor([0.7, 1.9]).view(2, 1, 1))
    x = torch.randn(1, 6, 3, 5)
    qkv = att.qkv_dwconv(att.qkv(x))[0]  # (18, 3, 5)
    q, k, v = qkv[:6].reshape(6, -1), qkv[6:12].reshape(6, -1), qkv[12:].reshape(6, -1)
    heads = []
    for h, temp in enumerate([0.7, 1.9]):
        rows = slice(3 * h, 3 * h + 3)
        qh = q[rows] / q[rows].norm(dim=1, keepdim=True)
        kh = k[rows] / k[rows].norm(dim=1, keepdim=True)
        logits = qh @ kh.T * temp  # 3 x 3: attention across channels
        a = torch.exp(logits) / torch.exp(logits).sum(dim=1, keepdim=True)
        heads.append(a @ v[rows])
    expected = att.project_out(torch.cat(heads).reshape(1, 6, 3, 5))
    assert torch.allclose(att(x), expected, atol=1e-5)


def test_gated_ffn_by_hand():
    torch.manual_seed(0)
    ffn = FeedForward(dim=48, ffn_expansion_factor=2.66, bias=False)
    hidden = int(48 * 2.66)
    assert hidden == 127 and ffn.project_out.weight.shape == (48, 127, 1, 1)
    x = torch.randn(1, 48, 4, 4)
    t = ffn.dwconv(ffn.project_in(x))
    gelu = 0.5 * t[:, :hidden] * (1 + torch.erf(t[:, :hidden] / 2**0.5))
    expected = ffn.project_out(gelu * t[:, hidden:])
    assert torch.allclose(ffn(x), expected, atol=1e-5)


def test_pads_bottom_right_by_reflection_and_crops():
    torch.manual_seed(0)
    net = models.build("restormer", **TINY).eval()
    x = torch.rand(1, 3, 13, 10)
    padded = F.pad(x, (0, 6, 0, 3), mode="reflect")  # to 16 x 16, the next multiples of 8
    with torch.no_grad():
        assert torch.allclose(net(x), net(padded)[..., :13, :10], atol=1e-6)
    big = models.build("restormer", **TINY, pad_multiple=64).eval()  # MiOIR's test padding
    big.load_state_dict(net.state_dict())
    x = torch.rand(1, 3, 40, 33)
    padded = F.pad(x, (0, 31, 0, 24), mode="reflect")  # to 64 x 64
    with torch.no_grad():
        assert torch.allclose(big(x), net(padded)[..., :40, :33], atol=1e-6)
    with pytest.raises(ValueError):
        models.build("restormer", **TINY, pad_multiple=12)


def test_residual_to_the_input():
    net = models.build("restormer", **TINY)
    with torch.no_grad():
        net.output.weight.zero_()
    x = torch.rand(2, 3, 9, 17)
    assert torch.equal(net(x), x)


def test_configs_build_the_released_and_tiny_models():
    import yaml

    root = Path(__file__).parents[2] / "configs" / "models"
    full = yaml.safe_load((root / "restormer.yaml").read_text())["model"]
    with torch.device("meta"):
        net = models.build(full["name"], **full["options"])
    assert sum(p.numel() for p in net.parameters()) == manifest("restormer")["num_params"]
    small = yaml.safe_load((root / "restormer_tiny.yaml").read_text())["model"]
    assert small["options"] == models.TEST_OPTIONS["restormer"]
