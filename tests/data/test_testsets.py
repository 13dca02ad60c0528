"""Synthetic test sets cut into tiles (val.tile): positions, names, generators, refusals."""

import hashlib

import numpy as np
import pytest

from aioir.config.errors import ConfigError
from aioir.config.schema import RunConfig, check
from aioir.data.testsets import SyntheticTestSet


class _Source:
    """Two clean images of known content (pixel value = its flat index, scaled)."""

    def __init__(self, shapes):
        self.names = [f"img{i}" for i in range(len(shapes))]
        self.images = [np.arange(h * w * 3, dtype=np.float32).reshape(h, w, 3) / (h * w * 3)
                       for h, w in shapes]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def _draw(task, img, rng, dist="in"):
    """A 'degradation' that records the generator: adds its first uniform draw."""
    return np.clip(img * 0.5 + np.float32(rng.random()) * 0.25, 0, 1)


def test_tiles_are_the_centred_grid_of_each_image():
    src = _Source([(70, 50), (40, 40)])
    ts = SyntheticTestSet(src, "noise", seed=3, key="index", task_index=2, tile=16,
                          quantize=False, degrade=_draw)
    # 70 x 50 -> 4 x 3 tiles starting at (3, 1); 40 x 40 -> 2 x 2 tiles starting at (4, 4)
    assert len(ts) == 12 + 4
    items = list(ts)
    assert items[0][3] == "img0@r0c0" and items[12][3] == "img1@r0c0"
    lq, gt, column, name = items[5]  # img0, row 1, column 2
    assert name == "img0@r1c2" and column == "noise"
    np.testing.assert_array_equal(gt, src.images[0][3 + 16:3 + 32, 1 + 32:1 + 48])
    # its own generator: [seed, task index, image index, tile index]
    draw = np.random.default_rng([3, 2, 0, 5]).random()
    np.testing.assert_allclose(lq, gt * 0.5 + np.float32(draw) * 0.25, rtol=0, atol=1e-7)
    lq2, gt2, _, name2 = items[12 + 3]
    assert name2 == "img1@r1c1"
    np.testing.assert_array_equal(gt2, src.images[1][4 + 16:4 + 32, 4 + 16:4 + 32])
    draw2 = np.random.default_rng([3, 2, 1, 3]).random()
    np.testing.assert_allclose(lq2, gt2 * 0.5 + np.float32(draw2) * 0.25, rtol=0, atol=1e-7)


def test_without_tiles_the_generator_rule_is_unchanged():
    src = _Source([(20, 24)])
    (lq, gt, _, name), = SyntheticTestSet(src, "noise", seed=3, key="index", task_index=2,
                                          quantize=False, degrade=_draw)
    assert name == "img0"
    draw = np.random.default_rng([3, 2, 0]).random()
    np.testing.assert_allclose(lq, gt * 0.5 + np.float32(draw) * 0.25, rtol=0, atol=1e-7)


def test_name_key_seeds_each_tile_by_its_name():
    src = _Source([(32, 16)])
    items = list(SyntheticTestSet(src, "noise", seed=7, key="name", tile=16, quantize=False,
                                  degrade=_draw))
    assert [it[3] for it in items] == ["img0@r0c0", "img0@r1c0"]
    words = np.frombuffer(hashlib.sha256(b"img0@r1c0").digest()[:16], dtype="<u4")
    draw = np.random.default_rng([7, *map(int, words)]).random()
    np.testing.assert_allclose(items[1][0], items[1][1] * 0.5 + np.float32(draw) * 0.25,
                               rtol=0, atol=1e-7)


def test_max_images_spreads_over_tiles():
    src = _Source([(64, 64)])
    ts = SyntheticTestSet(src, "noise", tile=16, max_images=3, degrade=_draw)
    # 16 tiles, 3 evenly spaced: indices 0, round(7.5) = 8, 15
    assert [name for _, _, _, name in ts] == ["img0@r0c0", "img0@r2c0", "img0@r3c3"]


def test_bad_tiles_are_refused_with_the_value():
    src = _Source([(20, 20)])
    with pytest.raises(ValueError, match="smaller than one 32 x 32 tile"):
        SyntheticTestSet(src, "noise", tile=32, degrade=_draw)
    with pytest.raises(ValueError, match=r"multiple of 8.*got 12"):
        SyntheticTestSet(src, "noise", tile=12, multiple=8, degrade=_draw)
    cfg = RunConfig()
    cfg.val.tile = 0
    with pytest.raises(ConfigError, match=r"val.tile"):
        check(cfg)


def test_paired_test_sets_are_not_tiled(tmp_path):
    from aioir.settings import get_setting
    from aioir.settings.assemble import build_test_sets
    from tests.settings.trees import three_task

    three_task(tmp_path)
    setting = get_setting("three_task")
    with pytest.raises(ValueError, match=r"val.tile=16.*real paired set"):
        build_test_sets(setting, tmp_path, tile=16)
    sets, _ = build_test_sets(setting, tmp_path, groups=None)
    assert all(ts.column for ts in sets)  # without tile the same tree builds
