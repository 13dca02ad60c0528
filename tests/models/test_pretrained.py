"""Loading released checkpoints: every published wrapper format, strictness, the model hooks."""

from __future__ import annotations

import argparse
import re

import pytest
import torch
from safetensors.torch import save_file

from aioir import models
from aioir.models.pretrained import (
    CheckpointMismatchError,
    load_pretrained,
    load_state_dict_file,
)


def random_state(name: str, seed: int, **options) -> dict[str, torch.Tensor]:
    """A state dict of ``name`` with every tensor random (so no value equals a fresh init)."""
    torch.manual_seed(seed)
    net = models.build(name, **options)
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=g) for k, v in net.state_dict().items()}


def assert_weights(model: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    assert list(got) == list(expected)
    for k, v in expected.items():
        assert torch.equal(got[k], v), k


@pytest.fixture(scope="module")
def srresnet_state():
    """Full-size MiOIR SRResNet weights (1.2 M parameters)."""
    return random_state("srresnet", seed=11)


def lightning(state, prefix="net."):
    return {
        "epoch": 119,
        "global_step": 123_456,
        "pytorch-lightning_version": "2.0.0",
        "state_dict": {prefix + k: v for k, v in state.items()},
        "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 119}}}},
        "callbacks": {"ModelCheckpoint": {"best_model_score": torch.tensor(0.5), "dirpath": "x"}},
        "optimizer_states": [{"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 1e-4}]}],
        "lr_schedulers": [{"last_epoch": 119, "base_lrs": [2e-4]}],
    }


FORMATS = {
    "plain": lambda s: s,
    "basicsr_params": lambda s: {"params": s},
    "dataparallel": lambda s: {"module." + k: v for k, v in s.items()},
    "basicsr_params_module": lambda s: {"params": {"module." + k: v for k, v in s.items()}},
    "lightning_net": lightning,
    "model_prefix": lambda s: {"model." + k: v for k, v in s.items()},
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_full_size_srresnet_every_format(tmp_path, srresnet_state, fmt):
    path = tmp_path / "ckpt.pth"
    torch.save(FORMATS[fmt](srresnet_state), path)
    net = load_pretrained("srresnet", path)
    assert_weights(net, srresnet_state)


def test_safetensors(tmp_path, srresnet_state):
    path = tmp_path / "w.safetensors"
    save_file({"module." + k: v.contiguous() for k, v in srresnet_state.items()}, str(path))
    assert_weights(load_pretrained("srresnet", path), srresnet_state)


def test_params_ema_is_preferred_and_key_selects(tmp_path, srresnet_state):
    ema = {k: v + 1 for k, v in srresnet_state.items()}
    path = tmp_path / "basicsr.pth"
    torch.save({"params": srresnet_state, "params_ema": ema}, path)
    assert_weights(load_pretrained("srresnet", path), ema)
    assert_weights(load_pretrained("srresnet", path, key="params"), srresnet_state)
    with pytest.raises(KeyError, match="params_ema"):  # lists what the file has
        load_pretrained("srresnet", path, key="ema")


def test_load_state_dict_file_returns_bare_names(tmp_path, srresnet_state):
    path = tmp_path / "l.ckpt"
    torch.save(lightning(srresnet_state), path)
    state = load_state_dict_file(path)
    assert list(state) == list(srresnet_state)
    assert all(torch.equal(state[k], v) for k, v in srresnet_state.items())


@pytest.mark.parametrize("unused_convs", [True, False])
def test_promptir_releases_pick_their_layout(tmp_path, unused_convs):
    """Official Lightning ``model.ckpt`` (with the unused convs) and MiOIR BasicSR files (without)."""
    options = {**models.TEST_OPTIONS["promptir"], "unused_convs": unused_convs}
    state = random_state("promptir", seed=3, **options)
    path = tmp_path / "promptir.ckpt"
    wrapped = lightning(state) if unused_convs else {"params": state, "params_ema": state}
    torch.save(wrapped, path)
    tiny = {k: v for k, v in options.items() if k != "unused_convs"}
    net = load_pretrained("promptir", path, **tiny)  # the layout is read off the checkpoint
    assert ("chnl_reduce1.weight" in net.state_dict()) is unused_convs
    assert_weights(net, state)


def test_restormer_tiny_basicsr(tmp_path):
    options = models.TEST_OPTIONS["restormer"]
    state = random_state("restormer", seed=4, **options)
    path = tmp_path / "restormer.pth"
    torch.save({"params": state}, path)
    assert_weights(load_pretrained("restormer", path, **options), state)


def test_full_size_promptir_release(tmp_path):
    """The real release layout at full size: Lightning, ``net.`` prefix, 35,592,263 weights."""
    torch.manual_seed(0)
    state = models.build("promptir").state_dict()
    path = tmp_path / "model.ckpt"
    torch.save(lightning(state), path)
    net = load_pretrained("promptir", path)
    assert sum(p.numel() for p in net.parameters()) == 35_592_263
    assert_weights(net, state)


def test_missing_unexpected_and_shape_errors_are_listed(tmp_path, srresnet_state):
    state = dict(srresnet_state)
    dropped = [f"body.{i}.conv1.bias" for i in range(12)]
    for k in dropped:
        del state[k]
    state["extra.weight"] = torch.zeros(1)
    state["conv_last.bias"] = torch.zeros(4)
    path = tmp_path / "bad.pth"
    torch.save({"params": state}, path)
    with pytest.raises(CheckpointMismatchError) as info:
        load_pretrained("srresnet", path)
    msg = str(info.value)
    assert "12 missing keys" in msg and "(2 more)" in msg
    assert all(k in msg for k in dropped[:10]) and dropped[11] not in msg
    assert "1 unexpected keys: [extra.weight]" in msg
    assert re.search(r"1 shape mismatches: \[conv_last.bias checkpoint \[4\] vs model \[3\]\]", msg)


def test_wrong_options_are_a_shape_error(tmp_path, srresnet_state):
    path = tmp_path / "w.pth"
    torch.save(srresnet_state, path)
    with pytest.raises(CheckpointMismatchError, match="shape mismatches"):
        load_pretrained("srresnet", path, num_feat=32)


def test_unreadable_and_unknown_layouts(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_state_dict_file(tmp_path / "nope.pth")
    path = tmp_path / "odd.pth"
    torch.save({"weights_here": {"a": torch.zeros(1)}, "step": 3}, path)
    with pytest.raises(ValueError, match="weights_here"):
        load_state_dict_file(path)
    assert list(load_state_dict_file(path, key="weights_here")) == ["a"]
    torch.save([torch.zeros(1)], path)
    with pytest.raises(ValueError, match="must be a dict"):
        load_state_dict_file(path)


def test_pickled_objects_need_trusted(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"params": {"a": torch.ones(2)}, "opt": argparse.Namespace(lr=1)}, path)
    with pytest.raises(ValueError, match="trusted=True") as refused:
        load_state_dict_file(path)
    # one line naming what was refused, without torch's advice to load it with weights_only=False
    message = str(refused.value)
    assert "\n" not in message and "argparse.Namespace" in message, message
    assert "weights_only` set to `False`" not in message, message
    assert torch.equal(load_state_dict_file(path, trusted=True)["a"], torch.ones(2))


def test_model_hooks(tmp_path, monkeypatch):
    """``options_from_state_dict`` sizes the model before building; ``adapt_state_dict`` renames."""
    cls = models.MODELS.get("srresnet")
    state = random_state("srresnet", seed=5, num_feat=4, num_block=3)
    state = {k.replace("conv_first.", "head."): v for k, v in state.items()}  # a format quirk
    path = tmp_path / "hooked.pth"
    torch.save(state, path)

    def options(state):
        return {"num_feat": 4, "num_block": len({k.split(".")[1] for k in state if k.startswith("body.")})}

    def adapt(self, state):
        return {k.replace("head.", "conv_first."): v for k, v in state.items()}

    monkeypatch.setattr(cls, "options_from_state_dict", staticmethod(options), raising=False)
    monkeypatch.setattr(cls, "adapt_state_dict", adapt, raising=False)
    net = load_pretrained("srresnet", path)
    assert len(net.body) == 3
    assert torch.equal(net.conv_first.weight, state["head.weight"])
    # explicit options win over the checkpoint's (and then the shapes disagree)
    with pytest.raises(CheckpointMismatchError, match="missing keys"):
        load_pretrained("srresnet", path, num_block=4)
