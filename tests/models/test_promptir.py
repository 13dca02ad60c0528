"""PromptIR: both released layouts, the prompt block's formula, the unused convs, padding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from aioir import models
from aioir.models.promptir import PromptGenBlock

MANIFESTS = Path(__file__).parent / "manifests"


def manifest(name: str) -> dict:
    return json.loads((MANIFESTS / f"{name}.json").read_text())


def tiny(**kw) -> dict:
    models.names()  # TEST_OPTIONS is filled when the backbones are registered
    return {**models.TEST_OPTIONS["promptir"], **kw}


@pytest.mark.parametrize(
    "options, file, count",
    [({}, "promptir", 35_592_263), ({"unused_convs": False}, "promptir_mioir", 35_376_967)],
)
def test_full_size_matches_released_state_dict(options, file, count):
    man = manifest(file)
    with torch.device("meta"):
        net = models.build("promptir", **options)
    shapes = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert shapes == man["tensors"]
    assert list(shapes) == list(man["tensors"])
    assert sum(p.numel() for p in net.parameters()) == man["num_params"] == count
    # the declared never-used parameters are the ones the manifest names
    assert sorted(net.unused_in_forward) == sorted(man["unused_in_forward"])
    assert net.uem_channels == 96 and net.uem_tap == "refinement"


def test_unused_convs_are_exactly_the_difference_of_the_two_releases():
    official, mioir = manifest("promptir")["tensors"], manifest("promptir_mioir")["tensors"]
    extra = set(official) - set(mioir)
    assert not set(mioir) - set(official)
    assert extra == set(manifest("promptir")["unused_in_forward"])
    assert sum(torch.Size(official[k]).numel() for k in extra) == 35_592_263 - 35_376_967


def test_prompt_block_by_hand():
    torch.manual_seed(0)
    blk = PromptGenBlock(prompt_dim=3, prompt_len=4, prompt_size=5, lin_dim=6)
    x = torch.randn(2, 6, 7, 9)
    out = blk(x)
    P = blk.prompt_param[0]  # (4, 3, 5, 5)
    for b in range(2):
        emb = x[b].mean(dim=(1, 2))
        logits = blk.linear_layer.weight @ emb + blk.linear_layer.bias
        w = torch.exp(logits) / torch.exp(logits).sum()
        mix = sum(w[i] * P[i] for i in range(4))
        resized = F.interpolate(mix[None], size=(7, 9), mode="bilinear", align_corners=False)
        expected = F.conv2d(resized, blk.conv3x3.weight, padding=1)[0]
        assert torch.allclose(out[b], expected, atol=1e-5)
    assert P.min() >= 0 and P.max() < 1  # prompts start uniform in [0, 1)


def test_unused_convs_do_not_change_the_output():
    torch.manual_seed(0)
    with_convs = models.build("promptir", **tiny(unused_convs=True)).eval()
    without = models.build("promptir", **tiny(unused_convs=False)).eval()
    state = {k: v for k, v in with_convs.state_dict().items() if k not in with_convs.unused_in_forward}
    without.load_state_dict(state, strict=True)
    assert without.unused_in_forward == ()
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        assert torch.equal(with_convs(x), without(x))


def test_options_from_state_dict_tells_the_two_releases_apart():
    official = models.build("promptir", **tiny(unused_convs=True)).state_dict()
    mioir = models.build("promptir", **tiny(unused_convs=False)).state_dict()
    cls = models.MODELS.get("promptir")
    assert cls.options_from_state_dict(official)["unused_convs"] is True
    assert cls.options_from_state_dict(mioir)["unused_convs"] is False
    # the rest of the layout is read too: the tiny options come back
    read = cls.options_from_state_dict(official)
    for key, value in tiny().items():
        assert read[key] == (list(value) if isinstance(value, tuple) else value), key


def test_pads_to_a_multiple_and_crops():
    torch.manual_seed(0)
    net = models.build("promptir", **tiny()).eval()
    x = torch.rand(1, 3, 21, 11)
    padded = F.pad(x, (0, 5, 0, 3), mode="reflect")  # 24 x 16
    with torch.no_grad():
        assert torch.allclose(net(x), net(padded)[..., :21, :11], atol=1e-6)


def test_residual_to_the_input():
    net = models.build("promptir", **tiny())
    with torch.no_grad():
        net.output.weight.zero_()
    x = torch.rand(1, 3, 8, 16)
    assert torch.equal(net(x), x)


def test_configs_build_the_mioir_layout_and_tiny_model():
    import yaml

    root = Path(__file__).parents[2] / "configs" / "models"
    full = yaml.safe_load((root / "promptir.yaml").read_text())["model"]
    with torch.device("meta"):
        net = models.build(full["name"], **full["options"])
    assert sum(p.numel() for p in net.parameters()) == manifest("promptir_mioir")["num_params"]
    small = yaml.safe_load((root / "promptir_tiny.yaml").read_text())["model"]
    assert small["options"] == tiny(unused_convs=False)
