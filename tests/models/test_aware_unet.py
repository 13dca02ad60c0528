"""aware_unet: identity at initialisation, the gate's mixing of per-task heads by hand, the
classifier's loss, the linear filter head against scipy, and an engine run."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import uniform_filter

from aioir import models

K = 3


def build(**options):
    torch.manual_seed(0)
    return models.build("aware_unet", width=8, num_tasks=K, **options)


def image(b=3, h=20, w=28, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g).clamp(min=1e-3)


def batch(x, tasks):
    return {"lq": x, "task_id": torch.tensor(tasks)}


@pytest.mark.parametrize("heads", ["none", "tone", "tail", "both"])
@pytest.mark.parametrize("train_gate", ["true", "pred", "mix"])
def test_identity_at_init(heads, train_gate):
    net = build(heads=heads, train_gate=train_gate, film=True, filter_size=5)
    x = image(h=21, w=17)
    assert torch.allclose(net(x), x, atol=1e-6)
    pred, _ = net.train_forward(batch(x, [0, 1, 2]))
    assert torch.allclose(pred, x, atol=1e-6)


def test_mean_std_is_the_population_mean_and_std():
    from aioir.models.aware_unet import mean_std

    x = image(b=2, h=7, w=9)
    a = x.numpy()
    got = mean_std(x).numpy()
    assert np.allclose(got[:, :3], a.mean(axis=(2, 3)), atol=1e-6)
    assert np.allclose(got[:, 3:], a.std(axis=(2, 3)), atol=1e-5)


def _set_tail_constants(net, consts):
    """Per-task tails that output a constant per task and channel (bias only)."""
    with torch.no_grad():
        net.tail.weight.zero_()
        net.tail.bias.copy_(torch.tensor(consts, dtype=torch.float32).flatten())


def test_teacher_forced_gate_uses_the_true_tasks_tail():
    net = build(heads="tail", train_gate="true")
    consts = [[0.1, 0.2, 0.3], [-0.1, 0.0, 0.05], [0.02, -0.03, 0.04]]
    _set_tail_constants(net, consts)
    x = image()
    pred, _ = net.train_forward(batch(x, [2, 0, 1]))
    for i, k in enumerate([2, 0, 1]):
        expected = x[i] + torch.tensor(consts[k])[:, None, None]
        assert torch.allclose(pred[i], expected, atol=1e-6)


def test_soft_gate_at_test_time_mixes_tails_by_the_classifiers_probabilities():
    net = build(heads="tail").eval()
    consts = np.array([[0.1, 0.2, 0.3], [-0.1, 0.0, 0.05], [0.02, -0.03, 0.04]])
    _set_tail_constants(net, consts)
    x = image()
    with torch.no_grad():
        p = net.logits(x).softmax(1).numpy()
        y = net(x)
    for i in range(x.shape[0]):
        mix = (p[i][:, None] * consts).sum(0)  # sum_k p_k c_k
        assert np.allclose((y[i] - x[i]).numpy(), mix[:, None, None], atol=1e-6)


def test_hard_gate_takes_the_argmax_head():
    net = build(heads="tail", gate="hard").eval()
    consts = [[0.1, 0.2, 0.3], [-0.1, 0.0, 0.05], [0.02, -0.03, 0.04]]
    _set_tail_constants(net, consts)
    x = image()
    with torch.no_grad():
        k = net.logits(x).argmax(1)
        y = net(x)
    for i in range(x.shape[0]):
        assert torch.allclose(y[i] - x[i], torch.tensor(consts[int(k[i])])[:, None, None],
                              atol=1e-6)


def test_per_task_tone_curves_and_their_soft_mixture():
    net = build(heads="tone")
    # task k: (log g, log a, b) per channel, as the tone MLP's constant output (zero weights)
    params = torch.tensor([[[0.3, 0.0, -0.2], [0.1, -0.1, 0.0], [0.05, 0.0, -0.02]],
                           [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
                           [[-0.4, 0.2, 0.1], [0.2, 0.0, -0.3], [0.0, 0.1, 0.03]]])
    with torch.no_grad():
        net.tone[-1].weight.zero_()
        net.tone[-1].bias.copy_(params.flatten())
    x = image()
    pred, _ = net.train_forward(batch(x, [0, 1, 2]))
    for i in range(3):
        log_g, log_a, b = params[i]
        for c in range(3):
            expected = math.exp(log_a[c]) * x[i, c] ** math.exp(log_g[c]) + b[c]
            assert torch.allclose(pred[i, c], expected, atol=1e-5)
    with torch.no_grad():  # soft: the probability-weighted mean of the parameters
        p = net.logits(x).softmax(1)
        y = net.eval()(x)
    for i in range(3):
        log_g, log_a, b = (p[i][:, None, None] * params).sum(0)
        for c in range(3):
            expected = math.exp(log_a[c]) * x[i, c] ** math.exp(log_g[c]) + b[c]
            assert torch.allclose(y[i, c], expected, atol=1e-5)


def test_pred_and_mix_train_gates():
    consts = np.array([[0.1, 0.2, 0.3], [-0.1, 0.0, 0.05], [0.02, -0.03, 0.04]])
    x = image()
    tasks = [1, 2, 0]
    for gate in ("pred", "mix"):
        net = build(heads="tail", train_gate=gate)
        _set_tail_constants(net, consts)
        with torch.no_grad():
            pred, _ = net.train_forward(batch(x, tasks))
            p = net.logits(x).softmax(1).numpy()
        for i, k in enumerate(tasks):
            w = p[i] if gate == "pred" else 0.5 * (p[i] + np.eye(K)[k])
            mix = (w[:, None] * consts).sum(0)
            assert np.allclose((pred[i] - x[i]).numpy(), mix[:, None, None], atol=1e-6)


def test_classification_loss_is_the_cross_entropy_of_the_logits():
    net = build()
    x = image()
    tasks = [2, 0, 0]
    _, aux = net.train_forward(batch(x, tasks))
    with torch.no_grad():
        z = net.logits(x).double()
    expected = np.mean([float(torch.logsumexp(z[i], 0) - z[i, k]) for i, k in enumerate(tasks)])
    assert float(aux["cls"].detach()) == pytest.approx(expected, abs=1e-5)
    assert net.aux_loss_weights == {"cls": 0.1}
    assert build(cls_weight=0.5).aux_loss_weights == {"cls": 0.5}


def test_cls_detach_keeps_the_classification_loss_off_the_trunk():
    for detach in (False, True):
        net = build(cls_detach=detach)
        _, aux = net.train_forward(batch(image(), [0, 1, 2]), restore=False)
        aux["cls"].backward()
        trunk = net.head.weight.grad
        assert (trunk is None or not trunk.abs().sum() > 0) == detach
        assert net.classifier[0].weight.grad.abs().sum() > 0


def test_linear_filter_head_against_scipy():
    net = build(heads="none", filter_size=3)
    with torch.no_grad():
        net.filters[1] = 1.0 / 9.0  # task 1: a 3x3 box filter, borders replicated
    x = image(b=2)
    pred, _ = net.train_forward(batch(x, [1, 0]))
    box = uniform_filter(x[0].numpy(), size=(1, 3, 3), mode="nearest")
    assert np.allclose(pred[0].detach().numpy(), box, atol=1e-6)
    assert torch.allclose(pred[1], x[1], atol=1e-6)  # task 0: still the delta


def test_bad_options_and_task_ids_are_named():
    with pytest.raises(ValueError, match="heads"):
        build(heads="all")
    with pytest.raises(ValueError, match="filter_size"):
        build(filter_size=4)
    with pytest.raises(ValueError, match="num_tasks"):
        build().train_forward(batch(image(), [0, 1, 3]))


def test_trains_in_the_engine_with_its_classification_loss(tmp_path):
    import json

    from aioir.config.schema import RunConfig
    from aioir.engine.run import train

    cfg = RunConfig()
    cfg.model.name = "aware_unet"
    cfg.model.options = {"width": 8, "num_tasks": 2}
    cfg.data.tasks = ["noise", "dark"]
    cfg.data.batch_size, cfg.data.patch_size = 4, 16
    cfg.train.steps, cfg.train.log_every, cfg.train.device = 2, 1, "cpu"
    cfg.train.progress = False
    cfg.val.enabled = False
    res = train(cfg, tmp_path / "run")
    assert res.status == "finished"
    lines = [json.loads(s) for s in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [rec["aux"]["cls"] for rec in lines if "aux" in rec]
    assert logged and all(0 < v < 10 for v in logged)


def test_clean_class_identity_at_init_and_soft_mixture():
    net = build(heads="tail", clean=0.5, film=True, filter_size=3)
    x = image()
    assert torch.allclose(net(x), x, atol=1e-6)
    consts = np.array([[0.1, 0.2, 0.3], [-0.1, 0.0, 0.05], [0.02, -0.03, 0.04]])
    _set_tail_constants(net, consts)
    with torch.no_grad():
        net.film[1].bias.zero_()
        p = net.logits(x).softmax(1).numpy()
        y = net.eval()(x)
    assert p.shape == (3, K + 1)
    for i in range(3):  # the clean class's head is the identity: it adds nothing
        mix = (p[i][:K, None] * consts).sum(0)
        assert np.allclose((y[i] - x[i]).numpy(), mix[:, None, None], atol=1e-6)


def test_clean_class_in_training_classifies_ground_truths_as_clean():
    net = build(clean=0.5)
    x, gt = image(b=4), image(b=4, seed=9)
    tasks = [0, 2, 1, 1]
    pred, aux = net.train_forward({"lq": x, "gt": gt, "task_id": torch.tensor(tasks)})
    assert pred.shape == x.shape and set(aux) == {"cls"}  # teacher forcing: no idt loss
    with torch.no_grad():
        z = net.logits(torch.cat([x, gt[:2]])).double()
    labels = tasks + [K, K]  # half the batch's ground truths, labelled "clean"
    expected = np.mean([float(torch.logsumexp(z[i], 0) - z[i, k]) for i, k in enumerate(labels)])
    assert float(aux["cls"].detach()) == pytest.approx(expected, abs=1e-5)


def test_clean_images_l1_loss_with_the_predicted_gate():
    net = build(heads="tail", clean=0.5, train_gate="pred")
    assert net.aux_loss_weights == {"cls": 0.1, "idt": 1.0}
    consts = np.array([[0.1, 0.2, 0.3], [-0.1, 0.0, 0.05], [0.02, -0.03, 0.04]])
    _set_tail_constants(net, consts)
    x, gt = image(b=4), image(b=4, seed=9)
    with torch.no_grad():
        _, aux = net.train_forward({"lq": x, "gt": gt, "task_id": torch.tensor([0, 1, 2, 0])})
        p = net.logits(torch.cat([x, gt[:2]])).softmax(1).numpy()
    # a clean image is restored to gt + sum_k p_k c_k (tails are constants): L1 to gt by hand
    l1 = np.mean([np.abs((p[4 + i][:K, None] * consts).sum(0)).mean() for i in range(2)])
    assert float(aux["idt"]) == pytest.approx(l1, abs=1e-6)


def test_lstsq_filter_recovers_a_known_kernel():
    from scipy.ndimage import correlate

    kernel = np.array([[0.0, 0.1, 0.05], [0.1, 0.5, 0.1], [0.05, 0.1, 0.0]])  # sums to 1
    net = build(heads="none", filter_size=3, filter_fit="lstsq", filter_ridge=1e-12)
    x = image(b=2, h=24, w=24)
    gt = torch.from_numpy(np.stack([[correlate(x[i, c].double().numpy(), kernel, mode="nearest")
                                     for c in range(3)] for i in range(2)])).float()
    net.train_forward({"lq": x, "gt": gt, "task_id": torch.tensor([1, 1])})
    assert np.allclose(net.filters[1].numpy(), kernel.ravel(), atol=1e-4)
    assert np.allclose(net.filters[0].numpy(), np.eye(9)[4])  # task 0 unseen: still the delta
    # and the network then applies it (zero tails, identity tone): f * x with borders replicated
    with torch.no_grad():
        pred, _ = net.train_forward({"lq": x, "gt": gt, "task_id": torch.tensor([1, 0])})
    assert np.allclose(pred[0].numpy(), gt[0].numpy(), atol=1e-4)


def test_filter_tasks_leave_the_other_tasks_unfiltered():
    """``filter_tasks=[1]``: task 1 is fitted and applied (the known kernel, as above); task 2's
    data fits nothing and its gate passes the input through unchanged (zero tails, identity
    tone), even when its filter is set by hand (the ``grad`` fit's parameters)."""
    from scipy.ndimage import correlate

    kernel = np.array([[0.0, 0.1, 0.05], [0.1, 0.5, 0.1], [0.05, 0.1, 0.0]])
    net = build(heads="none", filter_size=3, filter_fit="lstsq", filter_ridge=1e-12,
                filter_tasks=[1])
    x = image(b=2, h=24, w=24)
    gt = torch.from_numpy(np.stack([[correlate(x[i, c].double().numpy(), kernel, mode="nearest")
                                     for c in range(3)] for i in range(2)])).float()
    net.train_forward({"lq": x, "gt": gt, "task_id": torch.tensor([1, 2])})
    assert np.allclose(net.filters[1].numpy(), kernel.ravel(), atol=1e-4)
    assert np.allclose(net.filters[2].numpy(), np.eye(9)[4])  # its patch fitted nothing
    with torch.no_grad():
        pred, _ = net.train_forward({"lq": x, "gt": gt, "task_id": torch.tensor([1, 2])})
    assert np.allclose(pred[0].numpy(), gt[0].numpy(), atol=1e-4)
    assert torch.allclose(pred[1], x[1], atol=1e-6)
    grad = build(heads="none", filter_size=3, filter_tasks=[0, 1])
    with torch.no_grad():
        grad.filters[2] = 1.0 / 9.0
        out, _ = grad.train_forward(batch(x, [2, 2]))
    assert torch.allclose(out, x, atol=1e-6)


def test_filter_tasks_are_checked():
    with pytest.raises(ValueError, match="filter_tasks"):
        build(filter_size=3, filter_tasks=[0, 3])
    with pytest.raises(ValueError, match="filter_tasks"):
        build(filter_size=3, filter_tasks=[1, 1])
    with pytest.raises(ValueError, match="filter_size"):
        build(filter_tasks=[0])


def test_lstsq_filter_accumulates_the_normal_equations_over_batches():
    """Two batches give the ridge solution over their union, computed here with numpy."""
    ridge = 1e-3
    net = build(heads="none", filter_size=3, filter_fit="lstsq", filter_ridge=ridge)
    batches = [(image(b=1, h=10, w=12, seed=s), image(b=1, h=10, w=12, seed=s + 50))
               for s in (3, 4)]
    rows, targets = [], []
    for x, y in batches:
        net.train_forward({"lq": x, "gt": y, "task_id": torch.tensor([2])})
        a, t = x[0].double().numpy(), y[0].double().numpy()
        for c in range(3):
            for i in range(1, 9, 2):        # centres of the valid region, every second one
                for j in range(1, 11, 2):
                    win = a[c, i - 1:i + 2, j - 1:j + 2].ravel()
                    rows.append(np.delete(win, 4) - win[4])
                    targets.append(t[c, i, j] - win[4])
    z, e = np.array(rows), np.array(targets)
    h = np.linalg.solve(z.T @ z / len(z) + ridge * np.eye(8), z.T @ e / len(z))
    expected = np.insert(h, 4, 1.0 - h.sum())
    assert np.allclose(net.filters[2].numpy(), expected, atol=1e-5)


def test_input_classifier_has_its_own_features():
    net = build(classifier="input")
    x = image()
    _, aux = net.train_forward(batch(x, [0, 1, 2]), restore=False)
    aux["cls"].backward()
    assert net.cls_net[0][0].weight.grad.abs().sum() > 0
    assert net.head.weight.grad is None  # the trunk is not part of the classification


def test_stats_classifier_is_lda_over_every_patch_seen():
    """Two batches (with the clean class): the discriminants are the LDA of their union,
    computed here with NumPy from the statistics."""
    from aioir.models.degradation_stats import degradation_stats

    net = build(classifier="stats", clean=0.25, cls_ridge=0.05)
    net.eval()
    assert torch.allclose(net.logits(image()), torch.zeros(3, K + 1))  # nothing seen: uniform
    net.train()
    feats, labels = [], []
    for seed, tasks in ((5, [0, 1, 2, 0, 1, 2, 0, 1]), (6, [2, 2, 1, 0, 0, 1, 2, 0])):
        x, y = image(b=8, seed=seed), image(b=8, seed=seed + 10) ** 2
        _, _aux = net.train_forward({"lq": x, "gt": y, "task_id": torch.tensor(tasks)},
                                   restore=False)
        feats.append(degradation_stats(torch.cat([x, y[:2]])).double().numpy())
        labels += tasks + [K, K]
    s, t = np.concatenate(feats), np.array(labels)
    mu = np.stack([s[t == k].mean(0) for k in range(K + 1)])
    r = s - mu[t]
    cov = r.T @ r / len(s)
    w = np.linalg.solve(cov + 0.05 * np.diag(np.diag(cov)), mu.T).T
    b = -0.5 * (w * mu).sum(1)
    net.eval()
    x = image(b=2, h=21, w=30, seed=9)   # padded inside the network; statistics unpadded
    expected = degradation_stats(x).double().numpy() @ w.T + b
    got = net.logits(x).detach().double().numpy()
    assert np.allclose(got, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())
    assert net.aux_loss_weights["cls"] == 0.0   # reported only: it has no gradient


def test_stats_classifier_leaves_unseen_classes_out():
    net = build(classifier="stats")
    net.train_forward({"lq": image(b=4), "task_id": torch.tensor([0, 1, 0, 1])}, restore=False)
    net.eval()
    assert (net.logits(image()).argmax(1) != 2).all()


def _fitted_stats_net(**options):
    net = build(classifier="stats", clean=0.25, **options)
    net.train()
    for seed, tasks in ((5, [0, 1, 2, 0, 1, 2, 0, 1]), (6, [2, 2, 1, 0, 0, 1, 2, 0])):
        x, y = image(b=8, seed=seed), image(b=8, seed=seed + 10) ** 2
        net.train_forward({"lq": x, "gt": y, "task_id": torch.tensor(tasks)}, restore=False)
    return net.eval()


def test_cls_tile_classifies_the_mean_statistics_of_the_tiles():
    """cls_tile=16 on a 40 x 50 image: the logits are the discriminants of the mean
    statistics of its six 16-px tiles (the 8/2-px remainders left out), cut here by hand."""
    from aioir.models.degradation_stats import degradation_stats

    whole, tiled = _fitted_stats_net(), _fitted_stats_net(cls_tile=16)
    assert torch.equal(whole.lda_weight, tiled.lda_weight)  # training is unchanged
    x = image(b=2, h=40, w=50, seed=9)
    cut = [x[:, :, 16 * i:16 * i + 16, 16 * j:16 * j + 16] for i in range(2) for j in range(3)]
    mean = torch.stack([degradation_stats(c) for c in cut]).mean(0)
    expected = mean @ whole.lda_weight.T + whole.lda_bias
    assert torch.allclose(tiled.logits(x), expected, atol=1e-5)
    assert not torch.allclose(whole.logits(x), expected, atol=1e-3)
    with pytest.raises(ValueError, match="cls_tile"):
        build(cls_tile=16)                       # the trunk classifier has no statistics


def test_min_confidence_sends_unsure_images_to_the_identity():
    net = _fitted_stats_net(gate="hard")
    x = image(b=3, h=24, w=24, seed=11)
    probs = net.degradation_probabilities(x)
    top = probs.max(1).values
    threshold = float(top.median())             # one image above, one below, the median on it
    with torch.no_grad():
        for p in net.tail.parameters():          # heads that change the image
            p.add_(0.1)
    net.min_confidence = threshold
    out = net(x)
    for i in range(3):
        if top[i] < threshold:
            assert torch.allclose(out[i], x[i], atol=1e-6)
        elif int(probs[i].argmax()) != K:
            assert not torch.allclose(out[i], x[i], atol=1e-3)
    with pytest.raises(ValueError, match="clean"):
        build(min_confidence=0.5)


def test_min_risk_routing_fits_the_cost_matrix_and_takes_the_least_expected_loss():
    # 3 classes: two tasks and the clean class (the identity head). Hand-computed:
    # class 0 images lose (0, 8, 10) and (0, 8, 10) dB -> C[0] = (0, 8, 10);
    # class 1: (25, 33, 32) -> (8, 0, 1); clean: (35, 40, 50) -> (15, 10, 0).
    torch.manual_seed(0)
    net = models.build("aware_unet", width=8, num_tasks=2, clean=0.25, routing="min_risk")
    psnr = torch.tensor([[30.0, 22.0, 20.0], [28.0, 20.0, 18.0], [25.0, 33.0, 32.0],
                         [35.0, 40.0, 50.0]])
    cost = net.fit_route_cost(psnr, torch.tensor([0, 0, 1, 2]))
    assert cost.tolist() == [[0.0, 8.0, 10.0], [8.0, 0.0, 1.0], [15.0, 10.0, 0.0]]
    # p = (0.4, 0.35, 0.25): argmax is class 0, but the risks are
    # r0 = 0.35*8 + 0.25*15 = 6.55, r1 = 0.4*8 + 0.25*10 = 5.7, r2 = 0.4*10 + 0.35*1 = 4.35
    logits = torch.tensor([[0.4, 0.35, 0.25]]).log()
    assert net.min_risk_routes(logits).tolist() == [2]
    # temperature 0.25: p ~ p**4 = (0.575, 0.337, 0.088): r0 = 4.02, r1 = 5.48, r2 = 6.09
    net.route_temperature = 0.25
    assert net.min_risk_routes(logits).tolist() == [0]
    net.route_temperature = 1.0
    # forward restores with the chosen head: here the identity (the clean class)
    with torch.no_grad():
        for p in net.tail.parameters():          # heads that change the image
            p.add_(0.1)
    net._class_logits = lambda x, xp, stats, detach=False: logits.expand(x.shape[0], 3)
    x = image(b=2, h=24, w=24, seed=3)
    assert torch.allclose(net(x), x, atol=1e-6)
    with pytest.raises(ValueError, match="routing"):
        build(routing="bayes")
    with pytest.raises(ValueError, match="fit_route_cost"):
        models.build("aware_unet", width=8, num_tasks=2, routing="min_risk")(x)


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1] through Pillow's JPEG at ``quality``."""
    import io

    from PIL import Image

    a = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=quality)
    dec = np.array(Image.open(buf).convert("RGB"))
    return torch.from_numpy(dec).permute(2, 0, 1)[None].float() / 255


def test_lattice_class_sends_a_jpeg_to_its_head_and_keeps_others_from_it():
    """A photograph through JPEG at quality 40 goes to class 1 whatever the LDA says; the
    photograph itself never does (its class-1 logit is -20), the others keep their logits."""
    from aioir.data.sources import EmbeddedPhotos

    photo = torch.from_numpy(np.array(EmbeddedPhotos("test")[0][:96, :128])).permute(2, 0, 1)
    photo = photo[None].float()
    plain = _fitted_stats_net()
    routed = _fitted_stats_net(lattice_class=1)
    with torch.no_grad():
        assert routed.logits(_jpeg(photo, 40)).argmax(1).item() == 1
        got, want = routed.logits(photo), plain.logits(photo)
    assert got[0, 1].item() == -20.0
    keep = [0, 2, 3]
    assert torch.equal(got[:, keep], want[:, keep])
    assert routed(_jpeg(photo, 40)).shape == photo.shape


def test_lattice_class_is_checked():
    with pytest.raises(ValueError, match="lattice_class"):
        build(classifier="stats", lattice_class=K)


def test_stats_classifier_fits_on_the_classifier_stream_when_the_batch_has_one():
    """With lq_cls/gt_cls in the batch the LDA's sufficient statistics are those of the
    stream (degraded patches, then the clean class's ground truths), not of lq/gt."""
    from aioir.models.degradation_stats import degradation_stats

    net = build(classifier="stats", clean=0.25)
    net.train()
    x, y = image(b=8, seed=5), image(b=8, seed=15) ** 2
    xc, yc = image(b=8, seed=25) ** 0.5, image(b=8, seed=35)
    tasks = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    net.train_forward({"lq": x, "gt": y, "lq_cls": xc, "gt_cls": yc, "task_id": tasks},
                      restore=False)
    s = degradation_stats(torch.cat([xc, yc[:2]])).double()
    labels = torch.cat([tasks, torch.tensor([K, K])])
    want = torch.zeros(K + 1, s.shape[1], dtype=torch.float64).index_add_(0, labels, s)
    assert torch.allclose(net.lda_sum, want)
    assert torch.allclose(net.lda_scatter, s.T @ s)
