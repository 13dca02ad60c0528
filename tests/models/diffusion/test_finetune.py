"""One GEF step: generative samples update only the shallow layers with weight w(t_mat), L_reg
against the prior, L_orthog with real gradients, all through the wrapper's train_forward."""

from __future__ import annotations

import math

import pytest
import torch

from aioir.models.diffusion.generative import generative_losses
from aioir.models.diffusion.network import DiffusionNet
from aioir.models.diffusion.prior import compute_prior, save_prior
from aioir.models.diffusion.regularizers import importance_penalty

TASKS = ["noise", "haze"]
TMAT = {"noise": 4, "haze": 47}


@pytest.fixture(scope="module")
def prior_path(tmp_path_factory):
    torch.manual_seed(0)
    net = DiffusionNet(backbone_options={"width": 8}, timesteps=50, embed_dim=8)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("prior") / "prior.safetensors"
    save_prior(path, compute_prior(net, [torch.rand(2, 3, 12, 12)], seed=0))
    return path, net.state_dict()


def make(prior_path, **gef):
    path, state = prior_path
    torch.manual_seed(0)
    net = DiffusionNet(backbone_options={"width": 8}, timesteps=50, embed_dim=8, tasks=TASKS,
                       task_t=TMAT, gef={"prior": str(path), **gef})
    net.load_state_dict(state)
    return net


def batch(b=4):
    g = torch.Generator().manual_seed(1)
    return {"lq": torch.rand(b, 3, 12, 12, generator=g),
            "gt": torch.rand(b, 3, 12, 12, generator=g),
            "task_id": torch.tensor([0, 1] * (b // 2))}


def test_generative_samples_update_only_shallow_layers_weighted_by_w(prior_path):
    net = make(prior_path, gen_ratio=0.5, gen_mode="sample", reg_lambda=0.0, orthog=False)
    data = batch()
    torch.manual_seed(5)
    terms = net.gef.terms(data, net.task_steps(data["task_id"]))
    grads = torch.autograd.grad(terms["gen"], list(net.parameters()), allow_unused=True)
    shallow = set(net.shallow_names())
    touched = {n for (n, _), g in zip(net.named_parameters(), grads)
               if g is not None and float(g.abs().sum()) > 0}
    assert touched and touched <= shallow
    # the same draws by hand: n_g = round_stochastic(4 * 0.5 / 0.5) = 4, source slots, t, eps
    torch.manual_seed(5)
    n_g = 4
    src = torch.randperm(4)[:n_g]
    x0 = data["gt"][src]
    t = torch.randint(1, 51, (n_g,))
    eps = torch.randn(x0.shape)
    losses = generative_losses(net, x0, t, eps)
    t_mat = torch.tensor([TMAT[TASKS[int(i)]] for i in data["task_id"][src]])
    expected = (torch.exp(-0.05 * t_mat.float()) * losses).sum() / 4
    assert math.isclose(float(terms["gen"].detach()), float(expected.detach()), rel_tol=1e-5)


def test_a_generative_iteration_diffuses_the_whole_batch(prior_path):
    """gen_mode: iteration (EEDTP's `random.random() < gen_prob`): the step's B ground truths."""
    net = make(prior_path, gen_ratio=0.3, reg_lambda=0.0, orthog=False)
    data = batch()
    for seed in range(8):
        torch.manual_seed(seed)
        terms = net.gef.terms(data, net.task_steps(data["task_id"]))
        torch.manual_seed(seed)
        if float(torch.rand(())) >= 0.3:
            assert float(terms["gen"]) == 0.0
            continue
        t = torch.randint(1, 51, (4,))
        eps = torch.randn(data["gt"].shape)
        losses = generative_losses(net, data["gt"], t, eps)
        t_mat = torch.tensor([TMAT[TASKS[int(i)]] for i in data["task_id"]])
        expected = (torch.exp(-0.05 * t_mat.float()) * losses).sum() / 4
        assert math.isclose(float(terms["gen"].detach()), float(expected.detach()), rel_tol=1e-5)


def test_regularisation_is_the_penalty_against_the_prior(prior_path):
    from aioir.models.diffusion.prior import load_prior

    net = make(prior_path, gen_ratio=0.0, gen_mode="sample", orthog=False,
               reg_form="second_order")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01)
    prior = load_prior(prior_path[0])
    depth = net.parameter_depths()
    factor = {n: math.exp(-0.05 * depth[n]) for n in prior.theta}
    # Omega normalised by its mean over every parameter element (reg_normalize: mean)
    mean = sum(float(v.double().sum()) for v in prior.fisher.values()) / sum(
        v.numel() for v in prior.fisher.values())
    omega = {k: v / mean for k, v in prior.fisher.items()}
    expected = importance_penalty(dict(net.named_parameters()), prior.theta, omega,
                                  lam=0.2, layer_factor=factor)
    terms = net.gef.terms(batch(), net.task_steps(batch()["task_id"]))
    assert math.isclose(float(terms["reg"].detach()), float(expected.detach()), rel_tol=1e-5)
    assert float(terms["reg"].detach()) > 0 and float(terms["gen"]) == 0.0 and "orthog" not in terms
    # by hand for one tensor: 0.2 * exp(-0.05 * 0) * 1/2 * sum(Omega * 0.01^2)
    one = 0.2 * 0.5 * float((omega["backbone.head.weight"] * 1e-4).sum())
    part = importance_penalty({"backbone.head.weight": net.backbone.head.weight}, prior.theta,
                              omega, lam=0.2, layer_factor=factor)
    assert math.isclose(float(part.detach()), one, rel_tol=1e-4)
    # the raw scale (reg_normalize: none) is the same penalty times 1 / mean
    raw = make(prior_path, gen_ratio=0.0, gen_mode="sample", orthog=False,
               reg_form="second_order", reg_normalize="none")
    raw.load_state_dict(net.state_dict())
    got = raw.gef.terms(batch(), raw.task_steps(batch()["task_id"]))["reg"]
    assert math.isclose(float(got.detach()), float(expected.detach()) * mean, rel_tol=1e-5)


def test_regularisation_default_is_eq16_as_eedtp_computes_it(prior_path):
    """EEDTP `ParameterRegularizer.loss`: lambda * sum(w |d| + 1/2 w^2 d^2), w the raw mean
    |grad| (no normalisation), here with the layer-wise factor exp(-a l); added only on the
    iterations that carry a generative batch."""
    from aioir.models.diffusion.prior import load_prior

    net = make(prior_path, orthog=False)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=g))
    prior = load_prior(prior_path[0])
    depth = net.parameter_depths()
    params = dict(net.named_parameters())
    expected = 0.0
    for name, theta in prior.theta.items():
        d = (params[name].detach().double() - theta.double()).abs()
        w = prior.absgrad[name].double()
        expected += math.exp(-0.05 * depth[name]) * float((w * d + 0.5 * w * w * d * d).sum())
    expected *= 0.2
    got = float(net.gef.regularisation().detach())
    assert math.isclose(got, expected, rel_tol=1e-5)
    # one tensor written out: 0.2 * exp(0) * sum(w |d| + w^2 d^2 / 2)
    w = prior.absgrad["backbone.head.weight"].double()
    d = (net.backbone.head.weight.detach().double()
         - prior.theta["backbone.head.weight"].double()).abs()
    from aioir.models.diffusion.regularizers import eedtp_penalty
    part = eedtp_penalty({"backbone.head.weight": net.backbone.head.weight}, prior.theta,
                         prior.absgrad, lam=0.2)
    assert math.isclose(float(part.detach()), 0.2 * float((w * d + 0.5 * (w * d) ** 2).sum()),
                        rel_tol=1e-5)
    # only the steps with a generative batch add it
    data = batch()
    never = make(prior_path, gen_ratio=0.0, orthog=False)
    never.load_state_dict(net.state_dict())
    assert float(never.gef.terms(data, never.task_steps(data["task_id"]))["reg"]) == 0.0
    always = make(prior_path, gen_ratio=0.999, orthog=False)
    always.load_state_dict(net.state_dict())
    torch.manual_seed(0)
    reg = always.gef.terms(data, always.task_steps(data["task_id"]))["reg"]
    assert math.isclose(float(reg.detach()), expected, rel_tol=1e-5)


@pytest.mark.parametrize("method", ["vmap", "loop"])
def test_orthogonality_term_has_gradients(prior_path, method):
    net = make(prior_path, gen_ratio=0.999, reg_lambda=0.0, orthog_method=method)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    torch.manual_seed(3)
    pred, aux = net.train_forward(batch())
    assert pred.shape == (4, 3, 12, 12) and set(aux) == {"gen", "orthog"}
    assert 0.0 <= float(aux["orthog"].detach()) <= 2.0
    grads = torch.autograd.grad(aux["orthog"], list(net.parameters()), allow_unused=True)
    nonzero = {n for (n, _), g in zip(net.named_parameters(), grads)
               if g is not None and float(g.abs().sum()) > 0}
    assert any(n in set(net.shallow_names()) for n in nonzero)   # the shallow layers
    assert any(n.startswith("backbone.dec") for n in nonzero)     # and deep ones, through g_i


def test_generative_count_and_errors(prior_path):
    net = make(prior_path, reg_lambda=0.0, gen_mode="sample")
    torch.manual_seed(0)
    counts = [net.gef.generative_count(16) for _ in range(3000)]
    assert set(counts) == {1, 2} and abs(sum(counts) / 3000 - 16 * 0.1 / 0.9) < 0.05
    per_iteration = make(prior_path, reg_lambda=0.0)      # the default: 10 % of the steps
    counts = [per_iteration.gef.generative_count(16) for _ in range(3000)]
    assert set(counts) == {0, 16} and abs(counts.count(16) / 3000 - 0.1) < 0.02
    with pytest.raises(ValueError, match="prior is not set"):
        _ = DiffusionNet(backbone_options={"width": 8}, gef={}).gef
    with pytest.raises(ValueError, match="orthog_form"):
        _ = make(prior_path, orthog_form="pcgrad").gef


def test_a_strategy_hooked_on_the_model_sees_only_the_restoration_call(prior_path):
    """FAMO keeps the model's training call to re-run it after the step: with GEF's generative
    and L_orthog forwards before it, the call it keeps is r(lq, t_mat) of the batch."""
    from aioir.strategies.famo import FAMOStrategy

    net = make(prior_path, gen_ratio=0.999, reg_lambda=0.2, orthog=True)
    famo = FAMOStrategy(num_tasks=len(TASKS))
    famo.attach(net)
    calls = []
    counter = net.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape))
    data = batch()
    torch.manual_seed(2)
    pred, aux = net.train_forward(data)
    counter.remove()
    assert set(aux) == {"gen", "reg", "orthog"}
    assert calls == [data["lq"].shape]   # the auxiliary forwards stay out of model-level hooks
    (args, kwargs) = famo._input
    assert args[0] is data["lq"] and kwargs == {}
    assert args[1].tolist() == [TMAT[TASKS[i]] for i in data["task_id"].tolist()]
    with torch.no_grad():   # re-running the kept call restores the batch as in training
        assert torch.equal(net(*args, **kwargs), pred.detach())
    famo.detach()
