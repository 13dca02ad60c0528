"""The time-conditioned wrapper over every registered backbone: exactly the plain backbone when
conditioning is off or at initialisation, bit for bit; the backbone's layout, tap and groups."""

from __future__ import annotations

import copy

import pytest
import torch

from aioir import models, strategies
from aioir.models.diffusion.network import DiffusionNet

BACKBONES = [n for n in models.names() if n != "diffusion"]


def wrapped(name: str, seed: int = 0, **options) -> DiffusionNet:
    torch.manual_seed(seed)
    return DiffusionNet(backbone=name, backbone_options=models.TEST_OPTIONS[name], timesteps=50,
                        embed_dim=8, **options)


def plain(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return models.build(name, **models.TEST_OPTIONS[name])


def perturb(module: torch.nn.Module, seed: int = 3, std: float = 0.1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * std)


@pytest.mark.parametrize("name", BACKBONES)
def test_wrapped_backbone_is_bit_exact_plain_backbone(name):
    net = wrapped(name, moe_experts=3).eval()
    ref = plain(name).eval()  # same seed: the wrapper builds the backbone first, same weights
    for (k, v), (k2, v2) in zip(net.backbone.state_dict().items(), ref.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    # no weight at a zero/identity initialisation, so the checks below can see a difference
    perturb(ref, seed=5)
    perturb(net.backbone, seed=5)
    x = torch.rand(2, 3, 17, 13, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref(x)
        assert torch.equal(net(x), expected)                       # conditioning off
        assert torch.equal(net(x, torch.tensor([50, 7])), expected)  # at init, any t
        # conditioning live (trained heads): the output moves, and off is still the backbone
        perturb(net.film)
        perturb(net.moe)
        assert not torch.equal(net(x, 7), expected)
        assert torch.equal(net(x), expected)


def test_state_dict_layout_plain_export_and_tap():
    net = wrapped("tiny_unet")
    keys = [k for k in net.state_dict() if k.startswith("backbone.")]
    assert keys == [f"backbone.{k}" for k in plain("tiny_unet").state_dict()]
    perturb(net)
    back = net.plain_backbone().eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(back(x), net.eval()(x))
    assert net.get_submodule(net.uem_tap) is net.backbone.get_submodule(net.backbone.uem_tap)
    assert net.uem_channels == net.backbone.uem_channels


@pytest.mark.parametrize("strategy", ["tur", "ue"])
def test_uncertainty_strategies_tap_the_wrapped_backbone(strategy):
    net = wrapped("tiny_unet", tasks=["a", "b"], task_t={"a": 3, "b": 40})
    s = strategies.build(strategy, num_tasks=2)
    s.attach(net)
    batch = {"lq": torch.rand(2, 3, 16, 16), "gt": torch.rand(2, 3, 16, 16),
             "task_id": torch.tensor([0, 1])}
    pred, _ = net.train_forward(batch)
    out = s(pred, batch["gt"], batch["task_id"])
    assert torch.isfinite(out.loss)
    s.detach()


def test_deep_copy_hooks_follow_the_copy():
    net = wrapped("tiny_unet")
    perturb(net.backbone)
    twin = copy.deepcopy(net)
    perturb(twin.film)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x, 5), net.backbone(x))     # the original's heads are still zero
        assert not torch.equal(twin(x, 5), twin.backbone(x))


def test_time_steps_per_task_and_test_time():
    net = wrapped("tiny_unet", tasks=["noise", "haze"], task_t={"noise": 4, "haze": 47},
                  require_t=True)
    assert net.task_steps(torch.tensor([1, 0, 1])).tolist() == [47, 4, 47]
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="needs the task's t at test time"):
        net(x)
    perturb(net.film)
    with torch.no_grad(), net.use_task("haze"):
        assert torch.equal(net(x), net(x, 47))
    with pytest.raises(ValueError, match="no time step"), net.use_task("rain"):
        pass
    with pytest.raises(ValueError, match="task_t has no step"):
        wrapped("tiny_unet", tasks=["noise"], task_t={})
    with pytest.raises(ValueError, match=r"1..50"):
        wrapped("tiny_unet", test_t=0)
    with pytest.raises(ValueError, match="time steps must lie"):
        net(x, 51)


def test_parameter_groups_and_depths():
    net = wrapped("tiny_unet", moe_experts=2, shallow_blocks=2)
    groups = net.parameter_groups()
    names = {id(p): n for n, p in net.named_parameters()}
    shallow = {names[id(p)] for p in groups["shallow"]}
    assert {n.split(".")[1] for n in shallow if n.startswith("backbone.")} == {"head", "enc1"}
    assert {n for n in shallow if n.startswith("film.")} == {
        "film.0.proj.weight", "film.0.proj.bias", "film.1.proj.weight", "film.1.proj.bias"}
    everything = set(groups["shallow"]) | set(groups["deep"]) | set(groups["time"]) | set(
        groups["moe"])
    assert {id(p) for p in everything} == {id(p) for p in net.parameters()}
    depth = net.parameter_depths()
    assert depth["backbone.head.weight"] == 0 and depth["backbone.dec1.0.body.0.weight"] == 9
    assert depth["backbone.tail.weight"] == 10 and depth["time.mlp.0.weight"] == 0


def test_loading_a_network_without_moe_or_a_plain_backbone():
    source = wrapped("tiny_unet")
    perturb(source)
    target = wrapped("tiny_unet", seed=4, moe_experts=2)
    state = target.adapt_state_dict(source.state_dict())
    target.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():   # the new adapters start at zero scale: same function as the source
        assert torch.equal(target.eval()(x, 9), source.eval()(x, 9))
    backbone = plain("tiny_unet", seed=9)
    fresh = wrapped("tiny_unet", seed=2)
    fresh.load_state_dict(fresh.adapt_state_dict(backbone.state_dict()), strict=True)
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x, 9), backbone.eval()(x))


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="prediction"):
        wrapped("tiny_unet", prediction="v")
    with pytest.raises(ValueError, match="shallow_blocks"):
        wrapped("tiny_unet", shallow_blocks=99)
    with pytest.raises(ValueError, match="moe_blocks"):
        wrapped("tiny_unet", moe_experts=2, moe_blocks=["nope"])
    with pytest.raises(ValueError, match=r"model.options.gef"):
        wrapped("tiny_unet", gef={"gen_ratoi": 0.1})
