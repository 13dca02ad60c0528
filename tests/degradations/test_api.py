"""The contract every task obeys through apply(), and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aioir.degradations import TASKS, apply

RANDOM_TASKS = ["noise", "rain", "denoise_15", "denoise_25", "denoise_50"]


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("hw", [(5, 7), (1, 1), (13, 9), (32, 30)])
def test_contract(task, hw):
    img = np.random.default_rng(0).random((*hw, 3)).astype(np.float32)
    before = img.copy()
    out, params = apply(task, img, np.random.default_rng(7), dist="out")
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(img, before)  # the input is not modified
    assert json.loads(json.dumps(params)) == params


@pytest.mark.parametrize("task", list(TASKS))
def test_determinism_by_seed(task):
    img = np.random.default_rng(0).random((40, 36, 3)).astype(np.float32)
    a, pa = apply(task, img, np.random.default_rng(11))
    b, pb = apply(task, img, np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)
    assert pa == pb
    c, _pc = apply(task, img, np.random.default_rng(12))
    if task in RANDOM_TASKS:
        assert not np.array_equal(a, c)


def test_float64_input_accepted():
    out, _ = apply("dark", np.full((3, 4, 3), 0.5), np.random.default_rng(0), gamma=2)
    assert out.dtype == np.float32


@pytest.mark.parametrize("task,fixed", [
    ("noise", {"sigma": 25}), ("blur", {"sigma": 1.5}), ("blur", {"kernel_size": 9, "sigma": 4.0}),
    ("jpeg", {"quality": 55}), ("rain", {"value": 80, "angle": -10}), ("haze", {"beta": 1.2}),
    ("dark", {"gamma": 2.5}), ("sr", {"scale": 2, "antialias": True}),
])
def test_fixed_params_honoured(task, fixed):
    img = np.random.default_rng(0).random((24, 20, 3)).astype(np.float32)
    _, params = apply(task, img, np.random.default_rng(0), **fixed)
    for k, v in fixed.items():
        assert params[k] == v


def test_fixed_param_draws_nothing():
    # With sigma fixed, noise consumes the generator exactly as drawing the noise alone does.
    img = np.full((8, 8, 3), 0.5, np.float32)
    out, _ = apply("noise", img, np.random.default_rng(3), sigma=20)
    n = np.random.default_rng(3).standard_normal(img.shape, dtype=np.float32)
    np.testing.assert_allclose(out, np.clip(0.5 + n * (20 / 255), 0, 1), atol=1e-6)


@pytest.mark.parametrize("task,kwargs,msg", [
    ("nosie", {}, "did you mean 'noise'"),
    ("noise", {"sigm": 3}, "did you mean 'sigma'"),
    ("noise", {"sigma": 300}, "sigma=300 is outside"),
    ("noise", {"sigma": float("nan")}, "finite"),
    ("noise", {"sigma": True}, "number"),
    ("jpeg", {"quality": 0}, "quality"),
    ("jpeg", {"quality": 50.5}, "integer"),
    ("blur", {"kernel_size": 8}, "odd"),
    ("dark", {"gamma": -1}, "gamma"),
    ("sr", {"antialias": 1}, "true or false"),
    ("noise", {"dist": "inn"}, "did you mean 'in'"),
])
def test_bad_arguments(task, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        apply(task, np.zeros((4, 4, 3), np.float32), np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize("img,msg", [
    (np.zeros((4, 4, 3), np.uint8), "float dtype"),
    (np.zeros((4, 4), np.float32), r"\(H, W, 3\)"),
    (np.zeros((4, 4, 4), np.float32), r"\(H, W, 3\)"),
    (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
    (np.full((4, 4, 3), 1.5, np.float32), r"\[0, 1\]"),
    (np.full((4, 4, 3), -0.1, np.float32), r"\[0, 1\]"),
    (np.zeros((0, 4, 3), np.float32), "empty"),
    ([[0.0]], "numpy array"),
])
def test_bad_images(img, msg):
    with pytest.raises(ValueError, match=msg):
        apply("dark", img, np.random.default_rng(0))


def test_rng_must_be_a_generator():
    with pytest.raises(ValueError, match="default_rng"):
        apply("noise", np.zeros((4, 4, 3), np.float32), 0)
