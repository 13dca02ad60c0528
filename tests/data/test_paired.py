"""PairedFolderDataset: matching rules, the pairing report, crops; TaskMix mixing."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aioir.data.mixing import Segment, TaskMix
from aioir.data.paired import PairedFolderDataset, PairingError, pair_folders

RNG = np.random.default_rng(7)


def save(path: Path, h: int = 12, w: int = 10, value: int | None = None) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8) if value is None else np.full((h, w, 3), value, np.uint8)
    Image.fromarray(a).save(path)
    return a


def names(report) -> list[tuple[str, str]]:
    return [(lq.name, gt.name) for lq, gt in report.pairs]


def test_same_name_pairs_and_pixels(tmp_path: Path) -> None:
    lq = {n: save(tmp_path / "lq" / n) for n in ("1.png", "2.png")}
    gt = {n: save(tmp_path / "gt" / n) for n in ("1.png", "2.png")}
    ds = PairedFolderDataset(tmp_path / "lq", tmp_path / "gt", task_id=4)
    assert len(ds) == 2 and ds.names == ["1.png", "2.png"]
    s = ds[1]
    assert s["task_id"] == 4
    np.testing.assert_allclose(s["lq"].numpy().transpose(1, 2, 0), lq["2.png"] / 255.0, atol=1e-7)
    np.testing.assert_allclose(s["gt"].numpy().transpose(1, 2, 0), gt["2.png"] / 255.0, atol=1e-7)


def test_stem_rule_allows_other_extensions(tmp_path: Path) -> None:
    save(tmp_path / "lq" / "0001.jpg")
    save(tmp_path / "gt" / "0001.png")
    assert names(pair_folders(tmp_path / "lq", tmp_path / "gt", "stem")) == [("0001.jpg", "0001.png")]
    with pytest.raises(PairingError):  # but not by exact name
        PairedFolderDataset(tmp_path / "lq", tmp_path / "gt", match="name")


def test_rain100l_regex_rule(tmp_path: Path) -> None:
    for k in (1, 2, 10):
        save(tmp_path / "rainy" / f"rain-{k}.png")
        save(tmp_path / "gt" / f"norain-{k}.png")
    report = pair_folders(tmp_path / "rainy", tmp_path / "gt", (r"rain-(\d+)", r"norain-\1"))
    assert report.ok
    assert sorted(names(report)) == [("rain-1.png", "norain-1.png"), ("rain-10.png", "norain-10.png"),
                                     ("rain-2.png", "norain-2.png")]


def test_reside_regex_rule_many_lq_per_gt(tmp_path: Path) -> None:
    save(tmp_path / "clear" / "0001.jpg")
    save(tmp_path / "clear" / "0002.jpg")
    for n in ("part1/0001_0.8_0.2.jpg", "part2/0001_0.9_0.1.jpg", "part1/0002_1_0.04.jpg"):
        save(tmp_path / "hazy" / n)
    report = pair_folders(tmp_path / "hazy", tmp_path / "clear", (r"(\d+)_.*", r"\1"))
    assert report.ok
    assert sorted(names(report)) == [("0001_0.8_0.2.jpg", "0001.jpg"), ("0001_0.9_0.1.jpg", "0001.jpg"),
                                     ("0002_1_0.04.jpg", "0002.jpg")]


def test_callable_rule(tmp_path: Path) -> None:
    save(tmp_path / "lq" / "a_LQ.png")
    save(tmp_path / "gt" / "a_GT.png")
    report = pair_folders(tmp_path / "lq", tmp_path / "gt", lambda stem: stem.replace("_LQ", "_GT"))
    assert names(report) == [("a_LQ.png", "a_GT.png")]


def build_messy(root: Path) -> None:
    for n in ("a.png", "b.png", "c.png", "only_lq.png", "odd.png"):
        save(root / "lq" / n)
    for n in ("a.png", "b.png", "c.png", "only_gt1.png", "only_gt2.png"):
        save(root / "gt" / n)
    save(root / "gt" / "odd.png", h=13)  # size mismatch


def test_report_lists_every_problem_and_raises(tmp_path: Path) -> None:
    build_messy(tmp_path)
    report = pair_folders(tmp_path / "lq", tmp_path / "gt")
    assert not report.ok
    assert report.unmatched_lq == ["only_lq.png"]
    assert report.unmatched_gt == ["only_gt1.png", "only_gt2.png"]
    assert report.size_mismatch == [("odd.png", "odd.png", (12, 10), (13, 10))]
    assert sorted(names(report)) == [("a.png", "a.png"), ("b.png", "b.png"), ("c.png", "c.png")]
    with pytest.raises(PairingError) as info:
        PairedFolderDataset(tmp_path / "lq", tmp_path / "gt")
    text = str(info.value)
    assert "3 valid pairs" in text and "1 LQ files without a GT: only_lq.png" in text
    assert "2 GT files matched by no LQ: only_gt1.png, only_gt2.png" in text
    assert "odd.png 12x10 vs odd.png 13x10" in text
    assert info.value.report.unmatched_lq == ["only_lq.png"]


def test_warn_mode_logs_and_skips(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    build_messy(tmp_path)
    with caplog.at_level(logging.WARNING, logger="aioir.data.paired"):
        ds = PairedFolderDataset(tmp_path / "lq", tmp_path / "gt", on_error="warn")
    assert ds.names == ["a.png", "b.png", "c.png"]
    assert "only_lq.png" in caplog.text and "odd.png" in caplog.text


def test_unused_gt_can_be_allowed_and_ambiguity_is_reported(tmp_path: Path) -> None:
    save(tmp_path / "lq" / "x.jpg")
    save(tmp_path / "gt" / "x.png")
    save(tmp_path / "gt" / "spare.png")
    assert PairedFolderDataset(tmp_path / "lq", tmp_path / "gt", match="stem", allow_unused_gt=True).names == ["x.jpg"]
    save(tmp_path / "gt" / "sub" / "x.bmp")
    report = pair_folders(tmp_path / "lq", tmp_path / "gt", "stem", allow_unused_gt=True)
    assert not report.ok and report.ambiguous == ["x.jpg -> [sub/x.bmp, x.png]"]


def test_nothing_paired_always_raises(tmp_path: Path) -> None:
    save(tmp_path / "lq" / "a.png")
    save(tmp_path / "gt" / "b.png")
    with pytest.raises(PairingError, match="0 valid pairs"):
        PairedFolderDataset(tmp_path / "lq", tmp_path / "gt", on_error="warn")


def test_training_crops_align_lq_and_gt(tmp_path: Path) -> None:
    pos = np.arange(20 * 24).reshape(20, 24)
    img = np.stack([pos % 256, pos // 256, np.zeros_like(pos)], axis=2).astype(np.uint8)
    for d, offset in (("lq", 0), ("gt", 100)):
        (tmp_path / d).mkdir()
        shifted = img.copy()
        shifted[..., 2] = offset
        Image.fromarray(shifted).save(tmp_path / d / "p.png")
    ds = PairedFolderDataset(tmp_path / "lq", tmp_path / "gt", patch_size=8, augment=True, seed=1, length=12)
    again = PairedFolderDataset(tmp_path / "lq", tmp_path / "gt", patch_size=8, augment=True, seed=1, length=12)
    assert len(ds) == 12
    windows = set()
    for i in range(12):
        s = ds[i]
        lq, gt = s["lq"].numpy(), s["gt"].numpy()
        assert lq.shape == (3, 8, 8)
        assert np.array_equal(lq[:2], gt[:2])  # same window, same flip
        assert np.allclose(gt[2], 100 / 255) and np.allclose(lq[2], 0)
        assert torch.equal(again[i]["lq"], s["lq"])
        windows.add(lq[:2].tobytes())
    assert len(windows) > 6  # repeated pair, fresh crops


def test_views_from_paired(tmp_path: Path) -> None:
    """views: patch-size crops of the whole LQ image; view 0 is lq and gt is its GT window."""
    lq_img = save(tmp_path / "lq" / "a.png", 16, 20)
    gt_img = save(tmp_path / "gt" / "a.png", 16, 20)
    ds = PairedFolderDataset(tmp_path / "lq", tmp_path / "gt", patch_size=6, views=2, length=8)
    for i in range(8):
        s = ds[i]
        assert tuple(s["lq_views"].shape) == (2, 3, 6, 6)
        assert torch.equal(s["lq_views"][0], s["lq"])
        lq = np.round(s["lq"].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
        gt = np.round(s["gt"].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
        hits = [(y, x) for y in range(11) for x in range(15)
                if np.array_equal(lq_img[y:y + 6, x:x + 6], lq)]
        assert hits and any(np.array_equal(gt_img[y:y + 6, x:x + 6], gt) for y, x in hits)
        v1 = np.round(s["lq_views"][1].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
        assert any(np.array_equal(lq_img[y:y + 6, x:x + 6], v1) for y in range(11) for x in range(15))


def folder_pair(root: Path, task_value: int, n: int) -> tuple[Path, Path]:
    for k in range(n):
        save(root / "lq" / f"{k}.png", 8, 8, value=task_value)
        save(root / "gt" / f"{k}.png", 8, 8, value=task_value)
    return root / "lq", root / "gt"


def test_concat_repeats_like_official_loaders(tmp_path: Path) -> None:
    """One epoch holds every item `repeat` times (noise x3, rain x2), in a shuffled order."""
    noise = PairedFolderDataset(*folder_pair(tmp_path / "n", 10, 2), task_id=0, patch_size=4)
    rain = PairedFolderDataset(*folder_pair(tmp_path / "r", 20, 3), task_id=3, patch_size=4)
    mix = TaskMix([noise, rain], balance="concat", repeats=[3, 2], seed=0, length=12,
                  task_ids=[0, 3])
    assert mix.epoch_length() == 2 * 3 + 3 * 2
    slots = sorted(mix.locate(i) for i in range(12))
    assert slots == sorted([(0, 0)] * 3 + [(0, 1)] * 3 + [(1, 0)] * 2 + [(1, 1)] * 2
                           + [(1, 2)] * 2)
    ids = [mix[i]["task_id"] for i in range(12)]
    assert sorted(ids) == [0] * 6 + [3] * 6 and ids != sorted(ids)  # shuffled
    for i in range(12):
        assert np.allclose(mix[i]["gt"].numpy(), (10 if mix[i]["task_id"] == 0 else 20) / 255)


def test_balanced_mix_gives_equal_task_shares(tmp_path: Path) -> None:
    small = PairedFolderDataset(*folder_pair(tmp_path / "s", 10, 1), task_id=0)
    large = PairedFolderDataset(*folder_pair(tmp_path / "l", 20, 6), task_id=1)
    mix = TaskMix([small, large], balance="balanced", seed=2, length=40, task_ids=[5, 6])
    ids = [mix[i]["task_id"] for i in range(40)]
    for b in range(20):
        assert sorted(ids[2 * b : 2 * b + 2]) == [5, 6]
    again = TaskMix([small, large], balance="balanced", seed=2, length=40, task_ids=[5, 6])
    assert all(torch.equal(mix[i]["lq"], again[i]["lq"]) for i in range(6))
    with pytest.raises(ValueError, match="repeats"):
        TaskMix([small], balance="balanced", repeats=[2, 3])
    with pytest.raises(ValueError, match="balance"):
        TaskMix([small], balance="mixed")


@pytest.mark.parametrize("balance", ["balanced", "random", "concat"])
def test_segments_draw_only_their_components(tmp_path: Path, balance: str) -> None:
    """A stage's task subset: from its first sample on, only its components are drawn; a
    balanced segment holds each of its components once per block counted from its start."""
    comps = [PairedFolderDataset(*folder_pair(tmp_path / str(k), 10 * k, 2), task_id=k)
             for k in range(3)]
    segs = [Segment(0, (0,)), Segment(5, (0, 1)), Segment(11, (0, 1, 2))]
    mix = TaskMix(comps, balance=balance, seed=1, length=40, segments=segs)
    ids = [mix[i]["task_id"] for i in range(40)]
    assert set(ids[:5]) == {0}
    assert set(ids[5:11]) <= {0, 1} and 1 in ids[5:11]
    assert set(ids[11:]) == {0, 1, 2}
    if balance == "balanced":
        for b in range(3):
            assert sorted(ids[5 + 2 * b : 7 + 2 * b]) == [0, 1]
    # one segment of every component from 0 is the plain stream
    plain = TaskMix(comps, balance=balance, seed=1, length=40)
    whole = TaskMix(comps, balance=balance, seed=1, length=40, segments=[Segment(0, (0, 1, 2))])
    assert [plain[i]["task_id"] for i in range(20)] == [whole[i]["task_id"] for i in range(20)]
