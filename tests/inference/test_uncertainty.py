"""TUR's uncertainty head at inference: taken from the checkpoint's strategy state, run on the
backbone's tap exactly as during training, and absent where the run kept none."""

from __future__ import annotations

import torch

from aioir.checkpoint import load_checkpoint
from aioir.inference.export import export_checkpoint
from aioir.inference.reader import load_network
from aioir.inference.uncertainty import load_uncertainty_head, with_uncertainty
from aioir.strategies.uem import UncertaintyHead


def test_head_holds_the_trained_weights(tur_checkpoint):
    net, _ = load_network(tur_checkpoint)
    head = load_uncertainty_head(tur_checkpoint, net)
    state = load_checkpoint(tur_checkpoint)["strategy"]
    mine = head.state_dict()
    assert set(mine) == {k[len("uem."):] for k in state if k.startswith("uem.")}
    for k, v in mine.items():
        assert torch.equal(v, state[f"uem.{k}"]), k
    assert not net._forward_hooks and not net.get_submodule(net.uem_tap)._forward_hooks


def test_map_is_the_head_on_the_tapped_feature(tur_checkpoint):
    net, _ = load_network(tur_checkpoint)
    head = load_uncertainty_head(tur_checkpoint, net)
    x = torch.rand(2, 3, 30, 22)
    feats = []
    handle = net.get_submodule(net.uem_tap).register_forward_hook(lambda m, i, o: feats.append(o))
    with torch.no_grad():
        pred = net(x)
        expected = head(feats[0])[..., :30, :22].mean(1, keepdim=True)
    handle.remove()
    y = with_uncertainty(net, head)(x)
    assert torch.equal(y[:, :3], pred) and torch.allclose(y[:, 3:], expected)
    assert isinstance(head, UncertaintyHead) and (y[:, 3] > 0).all()


def test_no_head_for_exports_and_strategies_without_one(tur_checkpoint, tmp_path, make_config):
    exported = export_checkpoint(tur_checkpoint, tmp_path / "n.safetensors").path
    net, _ = load_network(exported)
    assert load_uncertainty_head(exported, net) is None
    from aioir.engine.run import train

    cfg = make_config("mixed", steps=1, checkpoint_every=1)
    ck = train(cfg, tmp_path / "mixed").checkpoint
    net, _ = load_network(ck)
    assert load_uncertainty_head(ck, net) is None
