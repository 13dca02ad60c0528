"""TUR and UE strategies on a real backbone: hook, crop, loss values, attach/detach."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aioir import models, strategies


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return models.build("tiny_unet", width=8)


def _tur_by_hand(p, g, u, tid, K, lw=2.0, eps=1e-6):
    per_task = {}
    for k in range(K):
        idx = [i for i in range(len(tid)) if tid[i] == k]
        if idx:
            U = sum(u[i] for i in idx) / len(idx) + eps
            per_task[k] = np.mean(np.stack([np.abs(p[i] - g[i]) / U for i in idx])) + lw * math.log(
                U.mean()
            )
    return sum(per_task.values()) / len(per_task)


def _capture_tap(net: torch.nn.Module) -> tuple[list[torch.Tensor], object]:
    seen: list[torch.Tensor] = []
    handle = net.get_submodule(net.uem_tap).register_forward_hook(
        lambda m, i, o: seen.append(o.detach())
    )
    return seen, handle


def test_attach_keeps_state_dict_and_output_and_detach_removes_hook() -> None:
    net = _net()
    x = torch.rand(2, 3, 10, 9)
    keys, y0 = list(net.state_dict()), net(x)
    s = strategies.build("tur", num_tasks=3)
    s.attach(net)
    assert list(net.state_dict()) == keys
    assert torch.equal(net(x), y0)
    assert sum(p.numel() for p in s.parameters()) > 0  # the UEM exists after attach
    s.detach()
    net(x)
    with pytest.raises(RuntimeError, match="no tapped feature"):
        s(y0, x, torch.tensor([0, 1]))
    assert list(net.state_dict()) == keys


@pytest.mark.parametrize("form", ["authors", "gaussian"])
def test_tur_loss_on_the_cropped_uem_map_matches_hand_computation(form: str) -> None:
    net = _net()
    s = strategies.build("tur", num_tasks=4, form=form)
    s.attach(net)
    seen, handle = _capture_tap(net)
    torch.manual_seed(1)
    x, gt = torch.rand(4, 3, 10, 9), torch.rand(4, 3, 10, 9)  # tiny_unet pads to 12 x 12
    tid = [0, 3, 0, 2]  # task 1 absent, tasks 2 and 3 single samples
    pred = net(x)
    out = s(pred, gt, torch.tensor(tid))
    handle.remove()
    assert seen[0].shape[-2:] == (12, 12)
    with torch.no_grad():
        u = s.uem(seen[0])[:, :, :10, :9].double().numpy()  # top-left crop
    p, g = pred.detach().double().numpy(), gt.double().numpy()
    if form == "authors":
        ref = _tur_by_hand(p, g, u, tid, 4)
        inv = {k: np.mean(1 / (np.mean([u[i] for i in range(4) if tid[i] == k], 0) + 1e-6))
               for k in (0, 2, 3)}
    else:
        terms, inv = [], {}
        for k in (0, 2, 3):
            idx = [i for i in range(4) if tid[i] == k]
            var = np.mean([u[i] for i in idx]) + 1e-6
            mse = np.mean([(p[i] - g[i]) ** 2 for i in idx])
            terms.append(mse / (2 * var) + 0.5 * math.log(var))
            inv[k] = 1 / (2 * var)
        ref = sum(terms) / 3
    assert out.loss.item() == pytest.approx(ref, rel=1e-5)
    z = sum(inv.values())
    np.testing.assert_allclose(
        out.weights.numpy(), [inv.get(k, 0.0) / z for k in range(4)], rtol=1e-4
    )
    mean_u = [
        np.mean([u[i] for i in range(4) if tid[i] == k]) if k in inv else 0.0 for k in range(4)
    ]
    np.testing.assert_allclose(out.extras["uncertainty"].numpy(), mean_u, rtol=1e-5)
    out.loss.backward()
    assert all(p.grad is not None for p in s.uem.parameters())
    s.detach()


def test_tap_is_cleared_after_use_and_not_captured_without_grad() -> None:
    net = _net()
    s = strategies.build("tur", num_tasks=2)
    s.attach(net)
    x = torch.rand(2, 3, 8, 8)
    s(net(x), x, torch.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="no tapped feature"):
        s(x, x, torch.tensor([0, 1]))  # no model forward since the last use
    with torch.no_grad():
        y = net(x)
    with pytest.raises(RuntimeError, match="no tapped feature"):
        s(y, x, torch.tensor([0, 1]))
    s.detach()


def test_uem_init_follows_the_global_seed_and_reattach_keeps_it() -> None:
    net = _net()
    torch.manual_seed(5)
    a = strategies.build("tur", num_tasks=2)
    a.attach(net)
    a.detach()
    torch.manual_seed(5)
    b = strategies.build("tur", num_tasks=2)
    b.attach(net)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    before = [p.clone() for p in b.parameters()]
    b.detach()
    b.attach(net)  # a re-attach keeps the trained head
    assert all(torch.equal(p, q) for p, q in zip(before, b.parameters()))
    with pytest.raises(RuntimeError, match="already attached"):
        b.attach(net)
    b.detach()


def test_ue_loss_on_the_uem_map_matches_hand_computation() -> None:
    net = _net()
    s = strategies.build("ue", num_tasks=3)
    s.attach(net)
    seen, handle = _capture_tap(net)
    x, gt = torch.rand(3, 3, 7, 6), torch.rand(3, 3, 7, 6)
    tid = [2, 0, 2]
    pred = net(x)
    out = s(pred, gt, torch.tensor(tid))
    handle.remove()
    with torch.no_grad():
        u = s.uem(seen[0])[:, :, :7, :6].double().numpy() + 1e-6
    p, g = pred.detach().double().numpy(), gt.double().numpy()
    ref = np.mean(np.abs(p - g) / u) + 2.0 * math.log(np.mean(u))
    assert out.loss.item() == pytest.approx(ref, rel=1e-5)
    share = [sum(np.mean(1 / u[i]) for i in range(3) if tid[i] == k) for k in range(3)]
    np.testing.assert_allclose(out.weights.numpy(), np.array(share) / sum(share), rtol=1e-4)
    assert out.weights[1].item() == 0.0
    s.detach()


def test_unknown_form_is_an_error() -> None:
    with pytest.raises(ValueError, match="form"):
        strategies.build("tur", num_tasks=2, form="laplace")


def test_a_deep_copy_of_the_attached_model_does_not_feed_the_strategy() -> None:
    import copy

    net = _net()
    s = strategies.build("tur", num_tasks=2)
    s.attach(net)
    twin = copy.deepcopy(net)  # e.g. the engine's EMA model
    x = torch.rand(2, 3, 8, 8)
    twin(x)
    with pytest.raises(RuntimeError, match="no tapped feature"):
        s(x, x, torch.tensor([0, 1]))
    assert torch.isfinite(s(net(x), x, torch.tensor([0, 1])).loss)
    s.detach()


def test_warns_once_when_every_task_group_holds_one_sample(caplog) -> None:
    net = _net()
    s = strategies.build("tur", num_tasks=3)
    s.attach(net)
    x = torch.rand(3, 3, 8, 8)
    with caplog.at_level("WARNING", logger="aioir"):
        for _ in range(2):
            s(net(x), x, torch.tensor([0, 1, 2]))  # one sample per task: TUR == UE
    hits = [r for r in caplog.records if "TUR equals UE" in r.getMessage()]
    assert len(hits) == 1
    s.detach()
    caplog.clear()
    s2 = strategies.build("tur", num_tasks=3)
    s2.attach(net)
    with caplog.at_level("WARNING", logger="aioir"):
        s2(net(x), x, torch.tensor([0, 0, 2]))  # task 0 holds two samples: no warning
    assert not [r for r in caplog.records if "TUR equals UE" in r.getMessage()]
    s2.detach()


def test_with_one_sample_per_task_tur_weights_errors_as_ue() -> None:
    """The reason for the warning: with one sample per task, each task's map is that sample's
    own map, so TUR's error term mean_k mean(e / U_k) is UE's mean(e / U) (equal-sized samples);
    only the log regulariser differs (mean of logs vs log of the mean). Checked with the
    regulariser off, on the same head."""
    net = _net()
    x, gt, tid = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8), torch.tensor([2, 0, 1])
    tur = strategies.build("tur", num_tasks=3, log_weight=0.0)
    tur.attach(net)
    a = tur(net(x), gt, tid).loss
    tur.detach()
    ue = strategies.build("ue", num_tasks=3, log_weight=0.0)
    ue.uem = tur.uem
    ue.attach(net)
    b = ue(net(x), gt, tid).loss
    ue.detach()
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_pixel_loss_default_follows_the_form() -> None:
    assert strategies.build("tur", num_tasks=2).pixel_loss == "l1"
    assert strategies.build("tur", num_tasks=2, form="gaussian").pixel_loss == "l2"
    assert strategies.build("tur", num_tasks=2, form="gaussian", loss="l1").pixel_loss == "l1"
    assert strategies.build("tur", num_tasks=2, loss="charbonnier").pixel_loss == "charbonnier"
