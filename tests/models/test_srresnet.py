"""SRResNet (MiOIR): the released layout, the forward formula, BasicSR's initialisation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from aioir import models

MANIFESTS = Path(__file__).parent / "manifests"


def manifest(name: str) -> dict:
    return json.loads((MANIFESTS / f"{name}.json").read_text())


def test_full_size_matches_released_state_dict():
    man = manifest("srresnet_mioir")
    with torch.device("meta"):
        net = models.build("srresnet")
    shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert shapes == man["tensors"]
    assert list(shapes) == list(man["tensors"])  # same order as the authors' class
    n = sum(p.numel() for p in net.parameters())
    assert n == man["num_params"] == 1_222_147  # FACTS.md section 5


def test_parameter_count_by_hand():
    f, b = 64, 16
    conv = lambda cin, cout: cin * cout * 9 + cout
    expected = conv(3, f) + b * 2 * conv(f, f) + conv(f, f) + conv(f, 3)
    assert expected == 1_222_147
    with torch.device("meta"):
        net = models.build("srresnet", num_feat=f, num_block=b)
    assert sum(p.numel() for p in net.parameters()) == expected


def test_forward_is_the_published_formula():
    torch.manual_seed(0)
    net = models.build("srresnet", num_feat=6, num_block=2).eval()
    sd = net.state_dict()
    x = torch.rand(2, 3, 11, 8)

    def conv(t, name):
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)

    feat = F.leaky_relu(conv(x, "conv_first"), 0.1)
    for i in range(2):
        feat = feat + conv(torch.relu(conv(feat, f"body.{i}.conv1")), f"body.{i}.conv2")
    body = feat
    expected = x + conv(F.leaky_relu(conv(body, "conv_hr"), 0.1), "conv_last")

    taps = []
    net.get_submodule(net.uem_tap).register_forward_hook(lambda m, i, o: taps.append(o))
    with torch.no_grad():
        y = net(x)
    assert torch.allclose(y, expected, atol=1e-6)
    assert torch.allclose(taps[0], body, atol=1e-6)  # the tap is the 64-ch body output


def test_basicsr_initialisation():
    torch.manual_seed(0)
    net = models.build("srresnet")
    w = net.body[0].conv1.weight
    fan_in = 64 * 9
    expected_std = 0.1 * math.sqrt(2.0 / fan_in)  # Kaiming normal (gain sqrt 2) times 0.1
    assert abs(w.std().item() / expected_std - 1) < 0.03
    w = net.conv_first.weight
    assert abs(w.std().item() / (0.1 * math.sqrt(2.0 / 27)) - 1) < 0.15
    for name, p in net.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(p) == 0, name


def test_residual_to_the_input():
    net = models.build("srresnet", num_feat=4, num_block=1)
    with torch.no_grad():
        net.conv_last.weight.zero_()
        net.conv_last.bias.zero_()
    x = torch.rand(1, 3, 5, 6)
    assert torch.equal(net(x), x)


def test_configs_build_the_released_and_tiny_models():
    import yaml

    root = Path(__file__).parents[2] / "configs" / "models"
    full = yaml.safe_load((root / "srresnet.yaml").read_text())["model"]
    with torch.device("meta"):
        net = models.build(full["name"], **full["options"])
    assert sum(p.numel() for p in net.parameters()) == manifest("srresnet_mioir")["num_params"]
    small = yaml.safe_load((root / "srresnet_tiny.yaml").read_text())["model"]
    assert small["options"] == models.TEST_OPTIONS["srresnet"]
