"""NAFNet: released layouts match the authors' state-dict manifests; blocks match hand formulas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from aioir import models
from aioir.models.nafnet import LayerNorm2d, NAFBlock, SimpleGate

MANIFESTS = Path(__file__).parent / "manifests"
CONFIGS = Path(__file__).parents[2] / "configs" / "models"

# (config file, manifest, parameter count published in FACTS.md section 5)
RELEASES = [
    ("nafnet.yaml", "nafnet.json", 17_111_907),
    ("nafnet_w64.yaml", "nafnet_w64.json", 67_888_835),
    ("nafnet_sidd.yaml", "nafnet_sidd_w32.json", 29_159_715),
]


def _build_from_config(filename: str) -> torch.nn.Module:
    cfg = yaml.safe_load((CONFIGS / filename).read_text())["model"]
    return models.build(cfg["name"], **cfg.get("options", {}))


@pytest.mark.parametrize("config, manifest, count", RELEASES)
def test_release_layout_matches_manifest(config: str, manifest: str, count: int) -> None:
    net = _build_from_config(config)
    ref = json.loads((MANIFESTS / manifest).read_text())
    assert ref["num_params"] == count
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == count
    shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert shapes == ref["tensors"]


def test_default_options_are_the_gopro_width32_release() -> None:
    ref = json.loads((MANIFESTS / "nafnet.json").read_text())["constructor"]
    net = models.build("nafnet")
    assert sum(p.numel() for p in net.parameters()) == 17_111_907
    assert net.uem_channels == ref["width"] == 32
    assert net.uem_tap == f"decoders.{len(ref['dec_blk_nums']) - 1}"


def test_simple_gate_is_the_product_of_channel_halves() -> None:
    x = torch.randn(2, 6, 3, 4)
    expected = x[:, :3] * x[:, 3:]
    assert torch.equal(SimpleGate()(x), expected)


def test_layernorm2d_equals_layer_norm_over_channels() -> None:
    torch.manual_seed(0)
    norm = LayerNorm2d(5)
    with torch.no_grad():
        norm.weight.copy_(torch.randn(5))
        norm.bias.copy_(torch.randn(5))
    x = torch.randn(2, 5, 4, 3)
    # reference: move channels last, normalise each pixel's channel vector, move back
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (5,), norm.weight, norm.bias, eps=1e-6)
    assert torch.allclose(norm(x), ref.permute(0, 3, 1, 2), atol=1e-5)


def test_nafblock_matches_hand_computation() -> None:
    torch.manual_seed(1)
    c = 4
    block = NAFBlock(c)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    x = torch.randn(1, c, 5, 6)

    def ln(t: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        mu = t.mean(1, keepdim=True)
        var = ((t - mu) ** 2).mean(1, keepdim=True)
        return (t - mu) / torch.sqrt(var + 1e-6) * w.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)

    b = block
    t = F.conv2d(ln(x, b.norm1.weight, b.norm1.bias), b.conv1.weight, b.conv1.bias)
    t = F.conv2d(t, b.conv2.weight, b.conv2.bias, padding=1, groups=2 * c)
    t = t[:, :c] * t[:, c:]
    att = F.conv2d(t.mean(dim=(2, 3), keepdim=True), b.sca[1].weight, b.sca[1].bias)
    t = F.conv2d(t * att, b.conv3.weight, b.conv3.bias)
    y = x + t * b.beta
    t = F.conv2d(ln(y, b.norm2.weight, b.norm2.bias), b.conv4.weight, b.conv4.bias)
    t = F.conv2d(t[:, :c] * t[:, c:], b.conv5.weight, b.conv5.bias)
    expected = y + t * b.gamma
    assert torch.allclose(block(x), expected, atol=1e-5)


def test_zero_padding_to_multiple_of_16_and_crop() -> None:
    torch.manual_seed(2)
    net = models.build("nafnet", width=8, enc_blk_nums=[1, 1, 1, 1], middle_blk_num=1, dec_blk_nums=[1, 1, 1, 1])
    with torch.no_grad():  # non-zero residual branches so the padding actually matters
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.fill_(0.3)
    net.eval()
    x = torch.rand(1, 3, 21, 18)
    padded = torch.zeros(1, 3, 32, 32)
    padded[..., :21, :18] = x
    with torch.no_grad():
        assert torch.allclose(net(x), net(padded)[..., :21, :18], atol=1e-6)


def test_tap_feeds_the_ending_conv() -> None:
    torch.manual_seed(3)
    net = models.build("nafnet", **models.TEST_OPTIONS["nafnet"]).eval()
    seen: list[torch.Tensor] = []
    net.get_submodule(net.uem_tap).register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.rand(2, 3, 13, 11)
    with torch.no_grad():
        y = net(x)
    (feat,) = seen
    assert feat.shape == (2, net.uem_channels, 16, 12)  # padded to a multiple of 4 (two levels)
    padded = F.pad(x, (0, 1, 0, 3))
    expected = (F.conv2d(feat, net.ending.weight, net.ending.bias, padding=1) + padded)[..., :13, :11]
    assert torch.allclose(y, expected, atol=1e-6)


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("size", [(37, 29), (5, 7), (1, 1)])
def test_tiny_any_size_forward_backward(mode: str, size: tuple[int, int]) -> None:
    net = models.build("nafnet", **models.TEST_OPTIONS["nafnet"])
    getattr(net, mode)()
    x = torch.rand(2, 3, *size, requires_grad=True)
    y = net(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_tiny_config_is_the_test_options() -> None:
    cfg = yaml.safe_load((CONFIGS / "nafnet_tiny.yaml").read_text())["model"]
    models.names()
    assert cfg["name"] == "nafnet"
    assert cfg["options"] == models.TEST_OPTIONS["nafnet"]


@pytest.mark.parametrize("manifest", ["nafnet.json", "nafnet_w64.json", "nafnet_sidd_w32.json"])
def test_layout_is_read_off_a_checkpoint(manifest: str) -> None:
    ref = json.loads((MANIFESTS / manifest).read_text())
    state = {k: torch.empty(shape, device="meta") for k, shape in ref["tensors"].items()}
    assert models.MODELS.get("nafnet").options_from_state_dict(state) == ref["constructor"]


def test_load_pretrained_without_options(tmp_path: Path) -> None:
    torch.manual_seed(7)
    layout = {"width": 4, "enc_blk_nums": [2, 1], "middle_blk_num": 3, "dec_blk_nums": [1, 2]}
    src = models.build("nafnet", **layout)
    with torch.no_grad():
        for p in src.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    torch.save({"params": src.state_dict()}, tmp_path / "net.pth")  # the authors' format
    net = models.load_pretrained("nafnet", str(tmp_path / "net.pth"))
    x = torch.rand(1, 3, 9, 6)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), src.eval()(x))
