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
