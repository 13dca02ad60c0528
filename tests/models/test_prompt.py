"""MiOIR prompt learning wrapper (``prompted``): the modulation equations by hand, explicit and
adaptive prompts, the task at train and test time, and the official SRResNet_EP's size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from aioir import models

TINY = {"width": 8, "blocks": 1, "global_tone": True}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only contend on shared CPUs
    yield
    torch.set_num_threads(before)


def _perturb(net: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def _f_ext_by_hand(ext, x: torch.Tensor) -> torch.Tensor:
    """MiOIR's F_ext written with functional ops: zero pad 1, strided convs, ReLU, mean."""
    for conv in (ext.conv1, ext.conv2, ext.conv3):
        x = F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1)), conv.weight, conv.bias, stride=2))
    return x.mean(dim=(2, 3))


@pytest.mark.parametrize("prompt", ["adaptive", "explicit"])
def test_site_and_output_modulation_by_hand(prompt: str) -> None:
    torch.manual_seed(0)
    net = models.build("prompted", backbone="tiny_unet", **TINY, prompt=prompt,
                       prompt_tasks=3, prompt_dim=8, prompt_sites=["dec2", "tap"])
    _perturb(net)
    x = torch.rand(2, 3, 12, 16)
    tid = torch.tensor([2, 0])
    src = x if prompt == "adaptive" else net.task_maps[tid].unsqueeze(1)
    v = _f_ext_by_hand(net.extractors[0], src)
    lin = lambda layer: v @ layer.weight.T + layer.bias
    inner = net.backbone
    # the plain backbone with the same modulations applied by hand at its two sites
    h1 = inner.dec2.register_forward_hook(lambda m, i, o: o * lin(net.scales[0])[:, :, None, None]
                                          + lin(net.shifts[0])[:, :, None, None] + o)
    h2 = inner.tap.register_forward_hook(lambda m, i, o: o * lin(net.scales[1])[:, :, None, None]
                                         + lin(net.shifts[1])[:, :, None, None] + o)
    try:
        with torch.no_grad():
            net._mods = None  # the wrapper's own hooks pass through
            y_inner = inner(x)
    finally:
        h1.remove()
        h2.remove()
    r = y_inner - x
    s, t = lin(net.scales[2])[:, :, None, None], lin(net.shifts[2])[:, :, None, None]
    expected = x + r * s + t + r
    with torch.no_grad():
        got = net(x, task_id=tid) if prompt == "explicit" else net(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_explicit_prompts_need_the_task_and_use_it() -> None:
    torch.manual_seed(0)
    net = models.build("prompted", backbone="tiny_unet", **TINY,
                       prompt="explicit", prompt_tasks=3, prompt_dim=8)
    _perturb(net)
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="needs the task"):
        net(x)
    with net.use_task(1):
        a = net(x)
    b = net(x, task_id=torch.tensor([1]))
    c = net(x, task_id=torch.tensor([2]))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    with pytest.raises(ValueError, match="task must lie"), net.use_task(3):
        pass
    # train_forward reads the batch's task ids, one per sample
    batch = {"lq": torch.cat([x, x]), "task_id": torch.tensor([1, 2])}
    pred, aux = net.train_forward(batch)
    torch.testing.assert_close(pred, torch.cat([b, c]))
    assert aux == {}


def test_explicit_wrapper_trains_every_parameter_and_round_trips() -> None:
    torch.manual_seed(0)
    net = models.build("prompted", backbone="tiny_unet", **TINY,
                       prompt="explicit", prompt_tasks=4, prompt_dim=8, prompt_per_site=True)
    _perturb(net)
    batch = {"lq": torch.rand(3, 3, 10, 9), "task_id": torch.tensor([0, 3, 1])}
    pred, _ = net.train_forward(batch)
    (pred - torch.rand_like(pred)).abs().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    fresh = models.build("prompted", backbone="tiny_unet", **TINY,
                         prompt="explicit", prompt_tasks=4, prompt_dim=8, prompt_per_site=True,
                         prompt_seed=9)
    assert not torch.equal(fresh.task_maps, net.task_maps)
    fresh.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh(batch["lq"], batch["task_id"]), net(batch["lq"], batch["task_id"]))
    assert len(net.extractors) == 2  # one site (the tap) + the output


def test_adaptive_prompt_ignores_the_task_and_follows_the_input() -> None:
    torch.manual_seed(0)
    net = models.build("prompted", backbone="tiny_unet", **TINY, prompt_dim=8)
    _perturb(net)
    x = torch.rand(2, 3, 8, 8)
    a, _ = net.train_forward({"lq": x, "task_id": torch.tensor([0, 1])})
    b, _ = net.train_forward({"lq": x, "task_id": torch.tensor([5, 5])})
    assert torch.equal(a, b)
    torch.testing.assert_close(a, net(x))


def test_backbone_train_forward_and_engine_attributes_are_passed_through() -> None:
    net = models.build("prompted", backbone="tiny_unet", **TINY, prompt_dim=8)
    inner = net.backbone
    inner.train_forward = lambda batch, restore=True: (inner(batch["lq"]), {"aux": torch.ones(())})
    x = torch.rand(1, 3, 8, 8)
    pred, aux = net.train_forward({"lq": x, "task_id": torch.tensor([0])})
    torch.testing.assert_close(pred, net(x))
    assert set(aux) == {"aux"}
    assert net.uem_tap == "backbone.tap" and net.uem_channels == 8
    groups = net.parameter_groups()
    assert set(groups) == {"backbone", "prompt"}
    total = sum(p.numel() for g in groups.values() for p in g)
    assert total == sum(p.numel() for p in net.parameters())


def test_bad_sites_and_options_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="site 'nope'"):
        models.build("prompted", backbone="tiny_unet", **TINY, prompt_sites=["nope"])
    with pytest.raises(ValueError, match="prompt must be one of"):
        models.build("prompted", backbone="tiny_unet", **TINY, prompt="soft")


def test_srresnet_explicit_prompts_add_the_official_sr_resnet_ep_parameters() -> None:
    """MiOIR's SRResNet_EP adds, to SRResNet (num_feat 64): F_ext(1 -> 64: 7x7, 3x3, 3x3) and
    two Linear(64 -> 64) per body block (16) and for conv_hr, two Linear(64 -> 3) for the
    output. Counted from its layer list by hand."""
    f_ext = (1 * 64 * 49 + 64) + 2 * (64 * 64 * 9 + 64)
    linears = 2 * 17 * (64 * 64 + 64) + 2 * (64 * 3 + 3)
    sites = [f"body.{i}" for i in range(16)] + ["conv_hr"]
    net = models.build("prompted", backbone="srresnet", prompt="explicit", prompt_tasks=7,
                       prompt_sites=sites)
    plain = sum(p.numel() for p in models.build("srresnet").parameters())
    assert plain == 1_222_147
    assert sum(p.numel() for p in net.parameters()) == plain + f_ext + linears
    assert net.task_maps.shape == (7, 128, 128)


def test_explicit_prompts_by_task_name_for_the_engines_evaluation():
    """``task_context(name)`` (the engine's evaluation hook) restores with the prompt of the
    named task's id, as ``forward(x, task_id=...)`` does; without names it says what to set."""
    import pytest
    import torch

    from aioir import models
    from aioir.models.hooks import hooks

    torch.manual_seed(0)
    net = models.build("prompted", backbone="tiny_unet", width=8, prompt="explicit",
                       prompt_tasks=3, prompt_task_names=["noise", "rain", "dark"]).eval()
    x = torch.rand(2, 3, 24, 20)
    context = hooks(net).task_context
    with torch.no_grad(), context("dark"):
        got = net(x)
    with torch.no_grad():
        want = net(x, task_id=torch.tensor([2, 2]))
        other = net(x, task_id=torch.tensor([0, 0]))
    assert torch.equal(got, want) and not torch.equal(got, other)
    with pytest.raises(ValueError, match="task 'haze' has no explicit prompt"):
        context("haze")
    plain = models.build("prompted", backbone="tiny_unet", width=8, prompt="explicit",
                         prompt_tasks=3)
    with pytest.raises(ValueError, match=r"set model.options.prompt_task_names"):
        hooks(plain).task_context("dark")
    assert hooks(models.build("prompted", backbone="tiny_unet", width=8)).task_context is None
    with pytest.raises(ValueError, match="2 names for prompt_tasks=3"):
        models.build("prompted", backbone="tiny_unet", width=8, prompt="explicit",
                     prompt_tasks=3, prompt_task_names=["noise", "rain"])


@pytest.mark.parametrize("prompt", ["adaptive", "explicit"])
def test_prompted_srresnet_keeps_pytorchs_default_init_on_its_outer_convs(prompt):
    """MiOIR's SRResNet_EP/_AP never apply BasicSR's default_init_weights(0.1) to conv_first,
    conv_hr, conv_last: PyTorch's default, weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    (std bound / sqrt(3)); the plain SRResNet has Kaiming normal x 0.1 and zero biases."""
    import math

    torch.manual_seed(0)
    plain = models.build("srresnet", num_feat=64, num_block=2)
    torch.manual_seed(0)
    net = models.build("prompted", backbone="srresnet", num_feat=64, num_block=2, prompt=prompt)
    for name, fan_in in (("conv_first", 3 * 9), ("conv_hr", 64 * 9), ("conv_last", 64 * 9)):
        bound = 1 / math.sqrt(fan_in)
        conv = getattr(net.backbone, name)
        assert float(conv.weight.abs().max()) <= bound and float(conv.bias.abs().max()) <= bound
        assert float(conv.bias.abs().max()) > 0
        assert float(conv.weight.std()) == pytest.approx(bound / math.sqrt(3), rel=0.15)
        ref = getattr(plain, name)
        assert float(ref.bias.abs().max()) == 0.0
        assert float(ref.weight.std()) == pytest.approx(0.1 * math.sqrt(2 / fan_in), rel=0.15)
    # the residual blocks keep the scaled Kaiming init in every variant
    assert float(net.backbone.body[0].conv1.bias.abs().max()) == 0.0
