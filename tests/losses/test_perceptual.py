"""The VGG16 perceptual loss against a hand-written VGG16 prefix (random weights)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from aioir import losses
from aioir.losses.perceptual import PerceptualLoss, vgg16_features


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    """A random state dict in torchvision's vgg16() layout (features.* plus a classifier)."""
    g = torch.Generator().manual_seed(0)
    convs = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128),
             10: (256, 128), 12: (256, 256), 14: (256, 256), 17: (512, 256)}
    sd = {}
    for i, (cout, cin) in convs.items():
        std = (2 / (9 * cin)) ** 0.5
        sd[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * std
        sd[f"features.{i}.bias"] = torch.randn(cout, generator=g) * 0.01
    sd["classifier.0.weight"] = torch.zeros(2, 2)
    return sd


def _hand_features(sd, x):
    def conv(t, i):
        return F.relu(F.conv2d(t, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], padding=1))

    r12 = conv(conv(x, 0), 2)
    r22 = conv(conv(F.max_pool2d(r12, 2), 5), 7)
    r33 = conv(conv(conv(F.max_pool2d(r22, 2), 10), 12), 14)
    return {"relu1_2": r12, "relu2_2": r22, "relu3_3": r33}


def test_matches_hand_vgg_and_transweather_formula(state, tmp_path):
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    loss = PerceptualLoss(weights=str(path))  # default weight 0.04, three layers
    g = torch.Generator().manual_seed(1)
    pred, gt = torch.rand(2, 3, 20, 24, generator=g), torch.rand(2, 3, 20, 24, generator=g)
    fp, fg = _hand_features(state, pred), _hand_features(state, gt)
    mses = [((fp[n] - fg[n]) ** 2).mean() for n in ("relu1_2", "relu2_2", "relu3_3")]
    expected = 0.04 * sum(mses) / 3
    torch.testing.assert_close(loss(pred, gt), expected, rtol=1e-5, atol=1e-8)
    feats = loss.features(pred)
    assert [f.shape[1] for f in feats] == [64, 128, 256]
    for f, n in zip(feats, ("relu1_2", "relu2_2", "relu3_3")):
        torch.testing.assert_close(f, fp[n], rtol=1e-5, atol=1e-6)


def test_zero_for_identical_positive_otherwise_and_gradient_only_to_pred(state):
    loss = losses.build("perceptual", weights=state, weight=1.0)
    x = torch.rand(1, 3, 16, 16)
    assert float(loss(x, x.clone())) == 0.0
    pred = x.clone().requires_grad_(True)
    value = loss(pred, torch.rand(1, 3, 16, 16))
    assert value > 0
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.parameters())
    loss.train()
    assert not loss.vgg.training


def test_layer_subset_and_features_only_state(state):
    features_only = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    loss = PerceptualLoss(weights=features_only, layers=("relu2_2",), weight=1.0)
    assert len(loss.vgg) == 9  # up to relu2_2 (index 8)
    pred, gt = torch.rand(1, 3, 12, 12), torch.rand(1, 3, 12, 12)
    fp, fg = _hand_features(state, pred), _hand_features(state, gt)
    torch.testing.assert_close(loss(pred, gt), ((fp["relu2_2"] - fg["relu2_2"]) ** 2).mean())


def test_imagenet_norm_option(state):
    loss = PerceptualLoss(weights=state, layers=("relu1_2",), weight=1.0, imagenet_norm=True)
    x = torch.rand(1, 3, 8, 8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = _hand_features(state, (x - mean) / std)["relu1_2"]
    torch.testing.assert_close(loss.features(x)[0], expected)


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="weights=PATH"):
        PerceptualLoss()
    with pytest.raises(FileNotFoundError, match="not downloaded"):
        PerceptualLoss(weights=str(tmp_path / "absent.pth"))
    with pytest.raises(ValueError, match="VGG16"):
        PerceptualLoss(weights={"0.weight": torch.zeros(64, 3, 3, 3)})
    with pytest.raises(ValueError, match="layers"):
        PerceptualLoss(weights={}, layers=("relu5_3",))


def test_layer_indices_are_torchvisions():
    # torchvision vgg16().features: conv at 0, 2, 5, 7, 10, 12, 14; max-pool at 4 and 9
    net = vgg16_features()
    kinds = [type(m).__name__ for m in net]
    assert [i for i, k in enumerate(kinds) if k == "Conv2d"] == [0, 2, 5, 7, 10, 12, 14]
    assert [i for i, k in enumerate(kinds) if k == "MaxPool2d"] == [4, 9]
    assert kinds[3] == kinds[8] == kinds[15] == "ReLU" and len(net) == 16
