"""Time embedding, FiLM and the automatic choice of conditioned blocks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from aioir.models.diffusion.conditioning import FiLMHead, find_blocks, sinusoidal_embedding


def test_sinusoidal_embedding_matches_the_formula():
    t = torch.tensor([0, 1, 7, 50])
    dim = 6
    emb = sinusoidal_embedding(t, dim)
    half = dim // 2
    for i, ti in enumerate(t.tolist()):
        for k in range(half):
            f = 10000.0 ** (-k / half)
            assert math.isclose(float(emb[i, k]), math.sin(ti * f), abs_tol=1e-5)
            assert math.isclose(float(emb[i, half + k]), math.cos(ti * f), abs_tol=1e-5)
    odd = sinusoidal_embedding(t, 5)
    assert odd.shape == (4, 5) and torch.all(odd[:, 4] == 0)


def test_film_head_is_zero_at_init_and_applies_scale_and_shift():
    head = FiLMHead(4, 3)
    scale, shift = head(torch.randn(2, 4))
    assert torch.equal(scale, torch.zeros(2, 3)) and torch.equal(shift, torch.zeros(2, 3))
    out = torch.rand(2, 3, 2, 2)
    s, b = torch.tensor([[1.0, 0.0, -0.5]] * 2), torch.tensor([[0.0, 2.0, 1.0]] * 2)
    y = FiLMHead.modulate(out, s, b)
    assert torch.allclose(y[:, 0], 2 * out[:, 0])
    assert torch.allclose(y[:, 1], out[:, 1] + 2)
    assert torch.allclose(y[:, 2], 0.5 * out[:, 2] + 1)


class Toy(nn.Module):
    """conv (features) - a relu used twice - a block in a Sequential - a conv used twice - RGB."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()
        self.inner = nn.Sequential(nn.Conv2d(8, 5, 1), nn.Identity())
        self.twice = nn.Conv2d(5, 5, 1)
        self.last = nn.Conv2d(5, 3, 1)

    def forward(self, x):
        h = self.act(self.a(x))
        h = self.act(self.inner(h))
        h = self.twice(self.twice(h))
        return self.last(h)


class ChannelLast(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 6)
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        return self.out(self.proj(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)


def test_automatic_rule():
    blocks = find_blocks(Toy())
    # a: features (8); act: no parameters; inner: a block (5); twice: runs twice; last: RGB
    assert [(b.name, b.channels) for b in blocks] == [("a", 8), ("inner", 5)]
    assert [b.order for b in blocks] == [0, 1]


def test_channel_last_outputs_are_not_blocks():
    with pytest.raises(ValueError, match="no block"):
        find_blocks(ChannelLast())


def test_declared_blocks_are_checked():
    assert [b.name for b in find_blocks(Toy(), ["inner.0"])] == ["inner.0"]
    with pytest.raises(ValueError, match="exactly once"):
        find_blocks(Toy(), ["twice"])
    with pytest.raises(ValueError, match="not a submodule"):
        find_blocks(Toy(), ["nope"])
    toy = Toy()
    toy.time_blocks = ["a"]
    assert [b.name for b in find_blocks(toy)] == ["a"]
