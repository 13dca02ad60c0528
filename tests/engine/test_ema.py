"""EMA of weights against the recurrence computed by hand."""

import torch

from aioir.engine.ema import ModelEMA


def test_ema_recurrence_by_hand():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = ModelEMA(net, decay=0.9)
    expected = {k: v.clone().double() for k, v in net.state_dict().items()}
    for _ in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()(torch.randn(5, 3))  # moves BN running stats, increments num_batches_tracked
        ema.update(net)
        for k, v in net.state_dict().items():
            if v.dtype.is_floating_point:
                expected[k] = 0.9 * expected[k] + 0.1 * v.double()
            else:
                expected[k] = v.clone().double()
    for k, v in ema.state_dict().items():
        assert torch.allclose(v.double(), expected[k], atol=1e-6), k
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_ema_keeps_following_after_load_state_dict_and_matches_the_recurrence_bitwise():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    ema = ModelEMA(net, decay=0.99)
    expected = {k: v.clone() for k, v in net.state_dict().items()}
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    for i in range(5):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()(torch.randn(2, 3, 8, 8))
        if i == 2:  # a resume loads new values into the same parameters
            other.load_state_dict(net.state_dict())
            net.load_state_dict(other.state_dict())
        ema.update(net)
        for k, v in net.state_dict().items():  # the same float32 operations, in the same order
            if v.dtype.is_floating_point:
                expected[k].mul_(0.99).add_(v, alpha=1 - 0.99)
            else:
                expected[k].copy_(v)
    assert all(torch.equal(v, expected[k]) for k, v in ema.state_dict().items())


def test_ema_of_another_architecture_is_an_error():
    import pytest

    ema = ModelEMA(torch.nn.Linear(2, 2), decay=0.9)
    with pytest.raises(ValueError, match="not the model the EMA was made from"):
        ema.update(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)))
