"""Uformer-B: the MiOIR state-dict manifest, window mechanics against hand-built references."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from aioir import models
from aioir.models.uformer import Uformer, drop_path_schedule
from aioir.models.uformer_blocks import (
    DropPath,
    LeWinBlock,
    relative_position_index,
    window_partition,
    window_reverse,
)

MANIFEST = Path(__file__).parent / "manifests" / "uformer_mioir.json"
CONFIGS = Path(__file__).parents[2] / "configs" / "models"


@pytest.fixture(scope="module")
def uformer_b() -> torch.nn.Module:
    cfg = yaml.safe_load((CONFIGS / "uformer.yaml").read_text())["model"]
    return models.build(cfg["name"], **cfg["options"])


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def test_uformer_b_parameter_count(uformer_b: torch.nn.Module, manifest: dict) -> None:
    assert manifest["num_params"] == 50_880_946  # FACTS.md section 5
    assert sum(p.numel() for p in uformer_b.parameters() if p.requires_grad) == 50_880_946
    total = sum(t.numel() for t in uformer_b.state_dict().values())
    assert total == manifest["num_params_total"] == 51_044_786


def test_uformer_b_state_dict_keys_shapes_and_buffers(uformer_b: torch.nn.Module, manifest: dict) -> None:
    sd = uformer_b.state_dict()
    assert {k: list(v.shape) for k, v in sd.items()} == manifest["tensors"]
    buffers = {k: list(v.shape) for k, v in uformer_b.named_buffers()}
    assert buffers == manifest["buffers"]
    assert len(buffers) == 40
    assert {k for k, v in sd.items() if v.dtype == torch.int64} == set(manifest["non_float32_tensors"])


def test_default_options_are_uformer_b(uformer_b: torch.nn.Module) -> None:
    default = models.build("uformer")
    assert sum(p.numel() for p in default.parameters()) == 50_880_946
    assert default.pad_multiple == 128 == uformer_b.pad_multiple  # window 8 x 2**4
    assert default.uem_channels == 64  # FACTS.md section 1: last decoder tokens, 64 channels


def test_uformer_b_shift_and_window_settings(uformer_b: torch.nn.Module) -> None:
    # MiOIR keeps img_size 256: every level (256 .. 16 px) exceeds the window, so every layer uses
    # window 8 and odd-indexed blocks are shifted by 4
    layers = [n for n, _ in uformer_b.named_children() if n.startswith(("encoderlayer", "decoderlayer"))]
    for name in layers + ["conv"]:
        for i, block in enumerate(uformer_b.get_submodule(name).blocks):
            assert block.win == 8
            assert block.shift == (4 if i % 2 else 0)
            assert (block.modulator is not None) == name.startswith("decoderlayer")


def test_small_img_size_disables_shift_where_the_level_fits_one_window() -> None:
    # official SIDD/GoPro training builds img_size=128: the 8x8 bottleneck gets shift 0
    net = Uformer(embed_dim=2, depths=[1, 1, 1, 1, 2, 1, 1, 1, 1], num_heads=[1] * 9, img_size=128)
    assert [b.shift for b in net.conv.blocks] == [0, 0]
    assert [b.shift for b in net.encoderlayer_3.blocks] == [0]
    assert [b.shift for b in net.decoderlayer_0.blocks] == [0]


def test_relative_position_index_matches_hand_formula(uformer_b: torch.nn.Module) -> None:
    win = 8
    expected = torch.empty(win * win, win * win, dtype=torch.int64)
    for i in range(win * win):
        yi, xi = divmod(i, win)
        for j in range(win * win):
            yj, xj = divmod(j, win)
            expected[i, j] = (yi - yj + win - 1) * (2 * win - 1) + (xi - xj + win - 1)
    assert torch.equal(relative_position_index(win), expected)
    assert torch.equal(uformer_b.decoderlayer_3.blocks[0].attn.relative_position_index, expected)
    assert int(expected.max()) == (2 * win - 1) ** 2 - 1


def test_window_partition_contents_and_round_trip() -> None:
    b, h, w, c, win = 2, 6, 9, 3, 3
    x = torch.randn(b, h, w, c)
    windows = window_partition(x, win)
    assert windows.shape == (b * (h // win) * (w // win), win, win, c)
    k = 0
    for bi in range(b):
        for wy in range(h // win):
            for wx in range(w // win):
                assert torch.equal(windows[k], x[bi, wy * win : (wy + 1) * win, wx * win : (wx + 1) * win])
                k += 1
    assert torch.equal(window_reverse(windows, win, h, w), x)


def test_drop_path_schedule_is_linear_then_reversed() -> None:
    layers = drop_path_schedule([1, 2, 8, 8, 2, 8, 8, 2, 1], 0.1)
    enc = [0.1 * i / 18 for i in range(19)]  # linspace(0, 0.1, 19) by hand
    flat_enc = [r for layer in layers[:4] for r in layer]
    assert flat_enc == pytest.approx(enc)
    assert layers[4] == [0.1, 0.1]
    flat_dec = [r for layer in layers[5:] for r in layer]
    assert flat_dec == pytest.approx(enc[::-1])
    assert [len(layer) for layer in layers] == [1, 2, 8, 8, 2, 8, 8, 2, 1]


def test_drop_path_drops_whole_samples_in_training_only() -> None:
    torch.manual_seed(0)
    dp = DropPath(0.5)
    x = torch.rand(64, 5, 3) + 0.1
    y = dp(x)
    for i in range(64):
        assert torch.equal(y[i], torch.zeros_like(x[i])) or torch.allclose(y[i], x[i] / 0.5)
    assert 0 < int((y.flatten(1).abs().sum(1) == 0).sum()) < 64
    assert torch.equal(dp.eval()(x), x)


@pytest.mark.parametrize("shift", [0, 2])
def test_lewin_block_equals_dense_masked_attention(shift: int) -> None:
    """A LeWin block equals attention over all pixel pairs restricted to shifted windows.

    Reference: pixel (y, x) belongs to window group ``((y - s) // win, (x - s) // win)`` (Python
    floor division, no wrap-around) at in-window position ``((y - s) % win, (x - s) % win)``; only
    pairs in the same group attend. This is the shifted-window rule written without rolling,
    partitioning or masks.
    """
    torch.manual_seed(4)
    b, side, dim, heads, win = 2, 8, 4, 2, 4
    block = LeWinBlock(dim, heads, win=win, shift=shift, modulator=True)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    block.eval()
    x = torch.randn(b, side * side, dim)

    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    group = ((ys - shift) // win) * 1000 + (xs - shift) // win
    py, px = (ys - shift) % win, (xs - shift) % win
    same = group[:, None] == group[None, :]
    rel = (py[:, None] - py[None, :] + win - 1) * (2 * win - 1) + (px[:, None] - px[None, :] + win - 1)

    d = dim // heads
    a = block.attn
    inp = F.layer_norm(x, (dim,), block.norm1.weight, block.norm1.bias) + block.modulator.weight[py * win + px]
    q = inp @ a.qkv.to_q.weight.T + a.qkv.to_q.bias
    kv = inp @ a.qkv.to_kv.weight.T + a.qkv.to_kv.bias
    k, v = kv[..., :dim], kv[..., dim:]
    outs = []
    for h in range(heads):
        sl = slice(h * d, (h + 1) * d)
        logits = q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(d)
        logits = logits + a.relative_position_bias_table[rel, h]
        logits = logits.masked_fill(~same, float("-inf"))
        outs.append(torch.softmax(logits, -1) @ v[..., sl])
    y = x + torch.cat(outs, -1) @ a.proj.weight.T + a.proj.bias

    m = block.mlp
    t = F.layer_norm(y, (dim,), block.norm2.weight, block.norm2.bias)
    t = F.gelu(t @ m.linear1[0].weight.T + m.linear1[0].bias)
    grid = t.transpose(1, 2).reshape(b, -1, side, side)
    grid = F.gelu(F.conv2d(grid, m.dwconv[0].weight, m.dwconv[0].bias, padding=1, groups=grid.shape[1]))
    t = grid.flatten(2).transpose(1, 2) @ m.linear2[0].weight.T + m.linear2[0].bias
    expected = y + t

    with torch.no_grad():
        assert torch.allclose(block(x, side, side), expected, atol=1e-5)


def test_square_reflect_padding_and_tap() -> None:
    torch.manual_seed(5)
    net = models.build("uformer", **models.TEST_OPTIONS["uformer"]).eval()
    assert net.pad_multiple == 16  # window 4 x 2**2 levels
    seen: list[torch.Tensor] = []
    net.get_submodule(net.uem_tap).register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.rand(1, 3, 37, 29)
    padded = F.pad(x, (0, 48 - 29, 0, 48 - 37), mode="reflect")  # multiple of 16, then square
    with torch.no_grad():
        y = net(x)
        (feat,) = seen
        assert feat.shape == (1, net.uem_channels, 48, 48)
        conv = net.output_proj.proj[0]
        assert torch.allclose(y, (padded + F.conv2d(feat, conv.weight, conv.bias, padding=1))[..., :37, :29], atol=1e-6)
        assert torch.allclose(y, net(padded)[..., :37, :29], atol=1e-5)


def test_pad_multiple_must_fit_the_windows() -> None:
    with pytest.raises(ValueError):
        Uformer(**{**models.TEST_OPTIONS["uformer"], "pad_multiple": 8})
    assert Uformer(**{**models.TEST_OPTIONS["uformer"], "pad_multiple": 32}).pad_multiple == 32


def test_eval_is_deterministic_train_is_not() -> None:
    torch.manual_seed(6)
    opts = {**models.TEST_OPTIONS["uformer"], "drop_path_rate": 0.5}
    net = models.build("uformer", **opts)
    x = torch.rand(4, 3, 16, 16)
    with torch.no_grad():
        assert not torch.equal(net.train()(x), net(x))
        assert torch.equal(net.eval()(x), net(x))


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("size", [(37, 29), (5, 7), (1, 1)])
def test_tiny_any_size_forward_backward(mode: str, size: tuple[int, int]) -> None:
    net = models.build("uformer", **models.TEST_OPTIONS["uformer"])
    getattr(net, mode)()
    x = torch.rand(2, 3, *size, requires_grad=True)
    y = net(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_tiny_config_is_the_test_options() -> None:
    cfg = yaml.safe_load((CONFIGS / "uformer_tiny.yaml").read_text())["model"]
    assert cfg["name"] == "uformer"
    assert cfg["options"] == models.TEST_OPTIONS["uformer"]


def test_architecture_is_read_off_a_checkpoint(manifest: dict) -> None:
    state = {k: torch.empty(shape, device="meta") for k, shape in manifest["tensors"].items()}
    derived = models.MODELS.get("uformer").options_from_state_dict(state)
    ctor = manifest["constructor"]
    assert derived == {
        "embed_dim": ctor["embed_dim"],
        "in_chans": ctor["in_chans"],
        "depths": ctor["depths"],
        "num_heads": ctor["implicit_defaults"]["num_heads"],
        "win_size": ctor["win_size"],
        "mlp_ratio": ctor["implicit_defaults"]["mlp_ratio"],
        "modulator": ctor["modulator"],
    }


def test_load_official_format_without_options(tmp_path: Path) -> None:
    torch.manual_seed(8)
    src = models.build("uformer", **models.TEST_OPTIONS["uformer"]).eval()
    # official Uformer checkpoints: {'epoch', 'state_dict' with DataParallel 'module.' keys, ...}
    state = {"module." + k: v for k, v in src.state_dict().items()}
    torch.save({"epoch": 1, "state_dict": state}, tmp_path / "model_best.pth")
    net = models.load_pretrained("uformer", str(tmp_path / "model_best.pth")).eval()
    x = torch.rand(1, 3, 20, 13)
    with torch.no_grad():
        assert torch.equal(net(x), src(x))
