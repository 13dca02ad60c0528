"""TransWeather: released layouts (manifests), input normalisation, padding and output by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from aioir import models
from aioir.models.transweather import AttentionDec, DropPath, TransWeather

MANIFESTS = Path(__file__).parent / "manifests"
CONFIGS = Path(__file__).parents[2] / "configs" / "models"
TINY = models.TEST_OPTIONS["transweather"]

# (config file, manifest, parameter count published in FACTS.md section 5)
RELEASES = [
    ("transweather.yaml", "transweather.json", 38_052_078),
    ("transweather_art.yaml", "transweather_art.json", 37_755_411),
]


@pytest.mark.parametrize("config, manifest, count", RELEASES)
def test_release_layout_matches_manifest(config, manifest, count):
    ref = json.loads((MANIFESTS / manifest).read_text())
    cfg = yaml.safe_load((CONFIGS / config).read_text())["model"]
    torch.manual_seed(0)
    net = models.build(cfg["name"], **cfg.get("options", {}))
    assert ref["num_params"] == count
    assert sum(p.numel() for p in net.parameters()) == count
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == count
    sd = net.state_dict()
    assert list(sd) == list(ref["tensors"])  # the authors' order too
    assert {k: list(v.shape) for k, v in sd.items()} == ref["tensors"]
    assert sorted(net.unused_in_forward) == sorted(ref["unused_in_forward"])
    assert net.uem_tap == "convtail" and net.uem_channels == 8


def test_art_copy_is_the_official_minus_the_unused_modules():
    official = json.loads((MANIFESTS / "transweather.json").read_text())
    art = json.loads((MANIFESTS / "transweather_art.json").read_text())
    removed = set(official["tensors"]) - set(art["tensors"])
    assert removed == set(official["tensors_only_in_official"])
    torch.manual_seed(0)
    a = TransWeather(**TINY).eval()
    b = TransWeather(**TINY, art_variant=True).eval()
    missing, unexpected = b.load_state_dict(a.state_dict(), strict=False)
    assert missing == [] and len(unexpected) == 6
    assert {k.rsplit(".", 1)[0] for k in unexpected} == {
        "Tenc.mini_patch_embed4.proj", "Tenc.mini_patch_embed4.norm", "convtail.conv_output.conv2d",
    }
    x = torch.rand(1, 3, 40, 52)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))  # the dropped modules never affect the output


def _capture(net, name):
    seen = []
    handle = net.get_submodule(name).register_forward_hook(
        lambda m, i, o: seen.append((i[0].detach().clone() if torch.is_tensor(i[0]) else i[0], o))
    )
    return seen, handle


def test_input_normalisation_and_padding_by_hand():
    torch.manual_seed(0)
    net = TransWeather(**{**TINY, "min_size": 48}).eval()
    seen, h = _capture(net, "Tenc.patch_embed1.proj")
    x = torch.rand(1, 3, 48, 64)  # already acceptable: no padding
    x_odd = torch.rand(1, 3, 37, 29)  # padded to 48 x 48 (multiple of 16, >= 48)
    x_big = torch.rand(1, 3, 50, 70)  # padded to 64 x 80
    with torch.no_grad():
        net(x), net(x_odd), net(x_big)
    h.remove()
    torch.testing.assert_close(seen[0][0], (x - 0.5) / 0.5, rtol=0, atol=0)
    assert seen[1][0].shape[-2:] == (48, 48) and seen[2][0].shape[-2:] == (64, 80)
    # reflect padding at the bottom/right: padded row 37 + i is row 35 - i, column 29 + j is 27 - j
    p = seen[1][0] * 0.5 + 0.5
    torch.testing.assert_close(p[..., :37, :29], x_odd)
    for i in range(11):
        torch.testing.assert_close(p[..., 37 + i, :29], x_odd[..., 35 - i, :])
    for j in range(19):
        torch.testing.assert_close(p[..., :37, 29 + j], x_odd[..., :, 27 - j])


def test_output_is_tanh_of_clean_conv_of_the_tap_cropped():
    torch.manual_seed(0)
    net = TransWeather(**TINY).eval()
    with torch.no_grad():
        net.clean.conv2d.bias.fill_(2.0)  # push the output towards the Tanh saturation
    seen, h = _capture(net, "convtail")
    x = torch.rand(2, 3, 45, 30)
    with torch.no_grad():
        y = net(x)
    h.remove()
    feat = seen[0][1]
    assert feat.shape == (2, TINY["tail_dims"][-1], 128, 128)  # TINY pads to >= 128
    conv = net.clean.conv2d
    expected = torch.tanh(F.conv2d(feat, conv.weight, conv.bias, padding=1))[..., :45, :30]
    torch.testing.assert_close(y, expected)
    assert y.abs().max() < 1 and y.max() > 0.9  # Tanh range, not clamped to [0, 1]


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_tiny_odd_sizes(mode):
    torch.manual_seed(0)
    net = TransWeather(**{**TINY, "min_size": 48}).train(mode == "train")
    for size in [(37, 29), (5, 7), (48, 48), (97, 50)]:
        x = torch.rand(1, 3, *size)
        with torch.no_grad():
            y = net(x)
        assert y.shape == x.shape and torch.isfinite(y).all()


def test_decoder_attention_by_hand():
    """Weather-type queries q_j (Q of them) resized to the N tokens by nearest neighbour
    (token n uses query floor(n Q / N)), then softmax(q k^T / sqrt(d)) v per head, then proj."""
    torch.manual_seed(0)
    dim, heads, nq, n = 4, 2, 3, 5
    att = AttentionDec(dim, heads, True, 1, nq).eval()
    x = torch.randn(2, n, dim)
    with torch.no_grad():
        out = att(x, 1, n)
        q = F.linear(att.task_query[0], att.q.weight, att.q.bias)  # (Q, C)
        kv = F.linear(x, att.kv.weight, att.kv.bias)
        k, v = kv[..., :dim], kv[..., dim:]
        d = dim // heads
        expected = torch.zeros(2, n, dim)
        for b in range(2):
            for t in range(n):
                qi = q[math.floor(t * nq / n)]
                for hh in range(heads):
                    sl = slice(hh * d, (hh + 1) * d)
                    w = torch.softmax((k[b, :, sl] @ qi[sl]) / math.sqrt(d), 0)
                    expected[b, t, sl] = w @ v[b, :, sl]
        expected = F.linear(expected, att.proj.weight, att.proj.bias)
    torch.testing.assert_close(out, expected)


def test_drop_path_drops_whole_samples_and_rescales():
    torch.manual_seed(0)
    dp = DropPath(0.5).train()
    y = dp(torch.ones(2000, 3, 2))
    per_sample = y.reshape(2000, -1)
    # each sample is all 0 or all 1 / (1 - 0.5) = 2
    assert set(per_sample.unique().tolist()) <= {0.0, 2.0}
    assert (per_sample.min(1).values == per_sample.max(1).values).all()
    assert abs(float((per_sample[:, 0] > 0).float().mean()) - 0.5) < 0.05
    assert torch.equal(dp.eval()(torch.ones(4, 3)), torch.ones(4, 3))


@pytest.mark.parametrize("fmt", ["dataparallel", "basicsr"])
def test_checkpoint_formats_load_through_the_shared_loader(tmp_path, fmt):
    from aioir.models.pretrained import load_pretrained

    torch.manual_seed(0)
    src = TransWeather(**TINY, art_variant=(fmt == "basicsr")).eval()
    sd = src.state_dict()
    if fmt == "dataparallel":  # official train.py: torch.save(DataParallel(net).state_dict())
        obj, name = {"module." + k: v for k, v in sd.items()}, "transweather"
    else:  # Art/TUR (BasicSR): {'params': ..., 'params_ema': ...}
        obj, name = {"params": sd, "params_ema": sd}, "transweather_art"
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path)
    net = load_pretrained(name, str(path), **TINY).eval()
    x = torch.rand(1, 3, 33, 47)
    with torch.no_grad():
        assert torch.equal(net(x), src(x))
