"""The materialised training stream equals the synthetic one, bit for bit."""

import json

import pytest
import torch

from aioir.data.cache import cache_key, materialize
from aioir.data.sources import EmbeddedPhotos
from aioir.data.synthetic import synthetic_mix


class Counting(torch.utils.data.Dataset):
    def __init__(self, ds):
        self.ds, self.calls = ds, 0

    def __getitem__(self, i):
        self.calls += 1
        return self.ds[i]


def _synthetic(**kw):
    return synthetic_mix(EmbeddedPhotos("train"), ["noise", "jpeg", "dark"], patch_size=16,
                         seed=5, length=12, **kw)


def test_cached_samples_are_bit_identical(tmp_path):
    ds = _synthetic()
    cached = materialize(ds, 12, tmp_path, workers=2, key="a")
    for i in range(12):
        a, b = ds[i], cached[i]
        assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])
        assert a["task_id"] == b["task_id"]
    assert torch.equal(cached[12 + 3]["lq"], cached[3]["lq"])  # indices wrap


def test_views_are_cached_too(tmp_path):
    ds = _synthetic(views=2)
    cached = materialize(ds, 4, tmp_path, workers=1, key="v")
    assert torch.equal(ds[2]["lq_views"], cached[2]["lq_views"])


def test_the_classifier_stream_is_cached_too(tmp_path):
    ds = _synthetic(classifier_copies=2)
    cached = materialize(ds, 4, tmp_path, workers=1, key="c")
    for f in ("lq", "gt", "lq_cls", "gt_cls"):
        assert torch.equal(ds[3][f], cached[3][f]), f


def test_reuse_and_rebuild(tmp_path):
    ds = Counting(_synthetic())
    materialize(ds, 6, tmp_path, workers=1, key="k1")
    n = ds.calls
    materialize(ds, 6, tmp_path, workers=1, key="k1")
    assert ds.calls == n  # same key: nothing recomputed
    materialize(ds, 6, tmp_path, workers=1, key="k2")
    assert ds.calls > n  # another dataset: rebuilt
    assert json.loads((tmp_path / "complete.json").read_text()) == {"key": "k2", "n": 6}
    assert cache_key({"a": 1}, 2) == cache_key({"a": 1}, 2) != cache_key({"a": 1}, 3)


def test_refuses_data_off_the_8bit_grid(tmp_path):
    with pytest.raises(ValueError, match="not on the 8-bit grid"):
        materialize(_synthetic(quantize=False), 6, tmp_path, workers=1, key="q")
