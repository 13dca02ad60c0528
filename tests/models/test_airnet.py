"""AirNet: the released layout (manifest), the DGM formula by hand, and the MoCo training hook."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from aioir import models
from aioir.models.airnet import DGM, AirNet

MANIFEST = json.loads((Path(__file__).parent / "manifests" / "airnet.json").read_text())
CONFIGS = Path(__file__).parents[2] / "configs" / "models"
TINY = models.TEST_OPTIONS["airnet"]


@pytest.fixture(scope="module")
def full() -> AirNet:
    torch.manual_seed(0)
    return AirNet()


def test_full_size_counts_match_manifest_and_facts(full):
    # FACTS.md section 5: 8,930,313 parameters of which 7,610,377 trainable
    assert MANIFEST["num_parameters_all"] == 8_930_313 and MANIFEST["num_params"] == 7_610_377
    assert sum(p.numel() for p in full.parameters()) == 8_930_313
    assert sum(p.numel() for p in full.parameters() if p.requires_grad) == 7_610_377
    assert sum(v.numel() for v in full.state_dict().values()) == MANIFEST["num_params_total"]
    breakdown = MANIFEST["param_breakdown"]
    assert sum(p.numel() for p in full.R.parameters()) == breakdown["restorer_R"]
    groups = full.parameter_groups()
    assert sum(p.numel() for p in groups["encoder"]) == breakdown["encoder_q"]
    assert sum(p.numel() for p in groups["restorer"]) == breakdown["restorer_R"]


def test_full_size_keys_shapes_dtypes_in_authors_order(full):
    sd = full.state_dict()
    assert list(sd) == list(MANIFEST["tensors"])
    assert {k: list(v.shape) for k, v in sd.items()} == MANIFEST["tensors"]
    int64 = {k for k, v in sd.items() if v.dtype == torch.int64}
    assert int64 == set(MANIFEST["non_float32_tensors"])
    frozen = sum(p.numel() for p in full.parameters() if not p.requires_grad)
    assert frozen == MANIFEST["frozen_parameter_count"]
    assert sorted(full.unused_in_forward) == sorted(MANIFEST["unused_in_forward_eval"])


def test_full_size_config_and_uem_tap(full):
    cfg = yaml.safe_load((CONFIGS / "airnet.yaml").read_text())["model"]
    assert cfg["name"] == "airnet"
    assert cfg["options"]["queue_size"] == MANIFEST["tensors"]["E.E.queue"][1] == 5 * 256
    assert full.uem_tap == "R.tap" and full.uem_channels == 64
    # the tap sees the tail conv's input: tail(tap output) is the network output
    seen = []
    h = full.get_submodule("R.tap").register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        y = full.eval()(x)
    h.remove()
    tail = full.R.tail[0]
    assert seen[0].shape == (1, 64, 6, 5)
    torch.testing.assert_close(y, F.conv2d(seen[0], tail.weight, tail.bias, padding=1))


def test_tiny_config_is_the_test_options():
    cfg = yaml.safe_load((CONFIGS / "airnet_tiny.yaml").read_text())["model"]
    assert cfg["name"] == "airnet" and cfg["options"] == TINY


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("size", [(37, 29), (5, 7), (1, 1)])
def test_tiny_any_size_both_modes(mode, size):
    torch.manual_seed(0)
    net = AirNet(**TINY).train(mode == "train")
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def _perturb(net: torch.nn.Module, seed: int = 3) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)


def test_forward_uses_only_the_query_encoders_first_block():
    torch.manual_seed(0)
    net = AirNet(**TINY).eval()
    _perturb(net)
    x = torch.rand(1, 3, 11, 9)
    with torch.no_grad():
        y = net(x)
        # perturbing the key encoder or the pooled branch/MLP of the query encoder: no effect
        for mod in (net.moco.encoder_k, net.moco.encoder_q.E, net.moco.encoder_q.mlp):
            for p in mod.parameters():
                p.add_(1.0)
        assert torch.equal(net(x), y)
        net.moco.encoder_q.E_pre.backbone[0].weight.add_(0.1)
        assert not torch.allclose(net(x), y)


def test_dgm_at_init_by_hand():
    """At init the offset/mask conv is zero: offsets 0, mask sigmoid(0) = 1/2, so
    DGM(x, inter) = x + conv(x, W) / 2 + x * gamma(inter) + beta(inter)."""
    torch.manual_seed(0)
    dgm = DGM(4, 3)
    x, inter = torch.rand(2, 4, 6, 5), torch.rand(2, 4, 6, 5)
    g1, g2 = dgm.sft.conv_gamma[0].weight, dgm.sft.conv_gamma[2].weight
    b1, b2 = dgm.sft.conv_beta[0].weight, dgm.sft.conv_beta[2].weight
    gamma = F.conv2d(F.leaky_relu(F.conv2d(inter, g1), 0.1), g2)
    beta = F.conv2d(F.leaky_relu(F.conv2d(inter, b1), 0.1), b2)
    expected = x + 0.5 * F.conv2d(x, dgm.dcn.weight, padding=1) + x * gamma + beta
    torch.testing.assert_close(dgm(x, inter), expected)


def test_dcn_offset_channels_are_y_then_x_per_tap():
    """Offset conv bias = 1 on even channels (dy of each tap), 0 on odd ones (dx), mask logits
    0: every tap reads one row lower, so the layer is conv(x shifted up by one row) / 2 with zeros
    below the image."""
    torch.manual_seed(0)
    layer = DGM(3, 3).dcn
    with torch.no_grad():
        layer.conv_offset_mask.bias.zero_()
        layer.conv_offset_mask.bias[0:18:2] = 1.0
    x = torch.rand(1, 3, 5, 6)
    xpad = F.pad(x, (1, 1, 1, 2))[:, :, 1:]  # row r of xpad = row r of x, zero-padded
    expected = 0.5 * F.conv2d(xpad, layer.weight)
    torch.testing.assert_close(layer(x, torch.rand(1, 3, 5, 6)), expected)


def _hand_keys(net: AirNet, x_key: torch.Tensor) -> torch.Tensor:
    enc = copy.deepcopy(net.moco.encoder_k).train()
    with torch.no_grad():
        return F.normalize(enc(x_key)[1], dim=1)


def test_training_outputs_contrastive_loss_ema_and_queue_by_hand():
    torch.manual_seed(0)
    net = AirNet(**TINY).train()
    _perturb(net)  # so query and key encoders differ before the step
    m = net.moco
    q_before = [p.detach().clone() for p in m.encoder_q.parameters()]
    k_before = [p.detach().clone() for p in m.encoder_k.parameters()]
    queue_before = m.queue.clone()
    ptr_before = int(m.queue_ptr)
    g = torch.Generator().manual_seed(1)
    xq, xk = torch.rand(3, 3, 16, 16, generator=g), torch.rand(3, 3, 16, 16, generator=g)
    gt = torch.rand(3, 3, 16, 16, generator=g)
    enc_q = copy.deepcopy(m.encoder_q)  # same weights, used for the hand computation

    restored, aux = net.training_outputs(xq, xk)

    # momentum update: theta_k = 0.999 theta_k + 0.001 theta_q, by hand
    for pk, kb, qb in zip(m.encoder_k.parameters(), k_before, q_before):
        torch.testing.assert_close(pk.detach(), 0.999 * kb + 0.001 * qb, rtol=0, atol=1e-7)
    # the keys of the updated key encoder are enqueued at the pointer, the pointer advances
    keys = _hand_keys(net, xk)
    torch.testing.assert_close(m.queue[:, ptr_before : ptr_before + 3], keys.t())
    assert torch.equal(m.queue[:, ptr_before + 3 :], queue_before[:, ptr_before + 3 :])
    assert int(m.queue_ptr) == (ptr_before + 3) % TINY["queue_size"]
    # InfoNCE by hand: logits = [q.k, q.queue] / 0.07, label 0
    with torch.no_grad():
        q = F.normalize(enc_q(xq)[1], dim=1)
    logits = torch.cat([(q * keys).sum(1, keepdim=True), q @ queue_before], 1) / 0.07
    ce = (torch.logsumexp(logits, 1) - logits[:, 0]).mean()
    torch.testing.assert_close(aux["contrastive"].detach(), ce, rtol=1e-5, atol=1e-5)
    assert aux["contrastive"].ndim == 0 and torch.isfinite(aux["contrastive"])

    # the official stage-2 loss: only the query encoder and the restorer receive gradients
    weight = AirNet.aux_loss_weights["contrastive"]
    loss = (restored - gt).abs().mean() + weight * aux["contrastive"]
    loss.backward()
    assert all(p.grad is None for p in m.encoder_k.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.encoder_q.parameters())
    assert all(p.grad is not None for p in net.R.parameters())


def test_queue_pointer_wraps_around():
    torch.manual_seed(0)
    net = AirNet(**TINY).train()  # queue of 12
    K = TINY["queue_size"]
    g = torch.Generator().manual_seed(2)
    ptrs = []
    for _ in range(3):
        xq, xk = torch.rand(5, 3, 8, 8, generator=g), torch.rand(5, 3, 8, 8, generator=g)
        net.training_outputs(xq, xk, restore=False)
        ptrs.append(int(net.moco.queue_ptr))
    assert ptrs == [5, 10, 15 % K]
    keys = _hand_keys(net, xk)  # the last call's keys went to columns 10, 11, 0, 1, 2
    torch.testing.assert_close(net.moco.queue[:, [10, 11, 0, 1, 2]], keys.t())


def test_stage_one_encoder_only_and_engine_hook():
    torch.manual_seed(0)
    net = AirNet(**TINY).train()
    views = torch.rand(2, 2, 3, 12, 12)
    restored, aux = net.training_outputs(views[:, 0], views[:, 1], restore=False)
    assert restored is None
    aux["contrastive"].backward()
    assert all(p.grad is None for p in net.R.parameters())
    pred, aux2 = net.train_forward({"lq_views": views, "lq": views[:, 0]})
    assert pred.shape == (2, 3, 12, 12) and set(aux2) == {"contrastive"}
    with pytest.raises(ValueError, match="lq_views"):
        net.train_forward({"lq_views": views[:, :1]})


def test_queue_size_from_checkpoint(tmp_path):
    from aioir.models.pretrained import load_pretrained

    torch.manual_seed(0)
    src = AirNet(**{**TINY, "queue_size": 20}).eval()
    _perturb(src)
    state = src.state_dict()
    # the queue gives K and the embedding; the restorer's keys its width, groups and blocks
    expected = {"queue_size": 20, "embed_dim": TINY["embed_dim"], "n_feats": TINY["n_feats"],
                "n_groups": TINY["n_groups"], "n_blocks": TINY["n_blocks"], "kernel_size": 3}
    assert AirNet.options_from_state_dict(state) == expected
    assert AirNet.options_from_state_dict({"module.E.E.queue": torch.zeros(256, 768)}) == {
        "queue_size": 768, "embed_dim": 256,
    }
    # a plain state dict file (the official format); the loader reads K = 20 off the queue
    path = tmp_path / "airnet.pth"
    torch.save(state, path)
    opts = {k: v for k, v in TINY.items() if k != "queue_size"}
    net = load_pretrained("airnet", str(path), **opts).eval()
    assert net.moco.queue.shape == (TINY["embed_dim"], 20)
    x = torch.rand(1, 3, 9, 10)
    with torch.no_grad():
        assert torch.equal(net(x), src(x))
