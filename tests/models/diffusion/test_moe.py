"""MoE adapters: the grouped-convolution experts against a loop over experts written out."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aioir.models.diffusion.moe import MoEAdapter


def test_moe_equals_loop_over_experts():
    torch.manual_seed(0)
    c, d, n, h = 6, 5, 4, 3
    a = MoEAdapter(c, d, experts=n, hidden=h)
    with torch.no_grad():
        a.scale.copy_(torch.randn(c))
    f, emb = torch.randn(2, c, 3, 4), torch.randn(2, d)
    out = a(f, emb)
    # by hand: router on [GAP(f); emb], softmax, each expert = its slice of both 1x1 convs
    logits = torch.cat([f.mean(dim=(2, 3)), emb], 1) @ a.router.weight.t() + a.router.bias
    pi = torch.softmax(logits, 1)
    assert torch.allclose(pi.sum(1), torch.ones(2))
    w1, b1 = a.expand.weight[:, :, 0, 0], a.expand.bias
    w2, b2 = a.project.weight[:, :, 0, 0], a.project.bias
    mixed = torch.zeros_like(f)
    for e in range(n):
        W1, B1 = w1[e * h:(e + 1) * h], b1[e * h:(e + 1) * h]
        W2, B2 = w2[e * c:(e + 1) * c], b2[e * c:(e + 1) * c]
        hid = F.gelu(torch.einsum("oc,bchw->bohw", W1, f) + B1[None, :, None, None])
        y = torch.einsum("oc,bchw->bohw", W2, hid) + B2[None, :, None, None]
        mixed += pi[:, e, None, None, None] * y
    expected = f + a.scale.view(1, -1, 1, 1) * mixed
    assert torch.allclose(out, expected, atol=1e-5)


def test_zero_scale_is_identity_and_routing_depends_on_t():
    torch.manual_seed(1)
    a = MoEAdapter(4, 3, experts=10)
    assert a.experts == 10
    f = torch.randn(2, 4, 3, 3)
    assert torch.equal(a(f, torch.randn(2, 3)), f)
    p1, p2 = a.routing(f, torch.zeros(2, 3)), a.routing(f, torch.ones(2, 3))
    assert not torch.allclose(p1, p2)


def test_eedtp_adapters_after_each_nafnet_decoder_level():
    """xin1u/EEDTP networks/moe_adapter.py: one MoEAdapter(dim) after each decoder level
    (dims 8w, 4w, 2w, w), experts Conv3x3(C, h) - GELU - Conv3x3(h, h) - GELU - Conv1x1(h, C),
    h = max(C // 4, 16), nn.Embedding(T + 1, C), router Linear(2C, C) - GELU - Linear(C, 10),
    a scalar scale. Per adapter: 10 (9Ch + h + 9h^2 + h + hC + C) + 51 C + (2C^2 + C) +
    (10 C + 10) + 1, written out: C = 256: 2,157,835; 128: 544,395; 64: 138,571;
    32: 78,923 -> 2,919,724 at NAFNet width 32; width 64 adds C = 512: 8,591,883."""
    from aioir.models.diffusion.network import DiffusionNet

    def by_hand(c: int) -> int:
        h = max(c // 4, 16)
        expert = 9 * c * h + h + 9 * h * h + h + h * c + c
        return 10 * expert + 51 * c + (2 * c * c + c) + (10 * c + 10) + 1

    assert [by_hand(c) for c in (256, 128, 64, 32)] == [2157835, 544395, 138571, 78923]
    layout = {"enc_blk_nums": [1, 1, 1, 1], "middle_blk_num": 1, "dec_blk_nums": [1, 1, 1, 1]}
    for width, total in ((32, 2919724), (64, 8591883 + 2157835 + 544395 + 138571)):
        net = DiffusionNet(backbone="nafnet", backbone_options={"width": width, **layout},
                           moe_experts=10, moe_blocks=["decoders.*"])
        names = [net.blocks[int(i)].name for i in net.moe]
        assert names == [f"decoders.{k}" for k in range(4)]
        assert sum(p.numel() for p in net.moe.parameters()) == total
        first = net.moe[next(iter(net.moe))]
        c = 8 * width
        assert [tuple(m.weight.shape) for m in first.expert[0] if hasattr(m, "weight")] == [
            (c // 4, c, 3, 3), (c // 4, c // 4, 3, 3), (c, c // 4, 1, 1)]
        assert tuple(first.time_emb.weight.shape) == (51, c)
        assert [tuple(m.weight.shape) for m in first.router if hasattr(m, "weight")] == [
            (c, 2 * c), (10, c)]
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():   # zero scale: the identity until trained
        assert torch.equal(net(x, torch.tensor([4, 47])), net.backbone(x))


def test_eedtp_adapter_is_the_routed_sum_of_its_experts():
    from aioir.models.diffusion.moe import EEDTPAdapter

    torch.manual_seed(0)
    a = EEDTPAdapter(channels=8, experts=3, T=50)
    with torch.no_grad():
        a.scale.fill_(0.7)
    f, t = torch.rand(2, 8, 6, 5), torch.tensor([3, 60])        # 60 clamps to T = 50
    pooled = f.mean(dim=(2, 3))
    emb = a.time_emb.weight[torch.tensor([3, 50])]
    pi = torch.softmax(a.router(torch.cat([pooled, emb], dim=1)), dim=1)
    mixed = sum(pi[:, e].view(2, 1, 1, 1) * a.expert[e](f) for e in range(3))
    assert torch.allclose(a(f, t), f + 0.7 * mixed, atol=1e-6)
