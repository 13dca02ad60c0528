"""MoE adapters: the grouped-convolution experts against a loop over experts written out."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from aioir.diffusion.moe import MoEAdapter


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
