"""Settings: registry, layouts of every setting, training mixes and synthetic test sets."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
import trees
from PIL import Image

from aioir.config.schema import DataConfig, RunConfig
from aioir.settings import get_setting, names
from aioir.settings.assemble import build_test_sets, resolve_setting, train_dataset
from aioir.settings.check import check_setting


def build_train_dataset(name: str, root: Path, balance: str, seed: int, steps: int = 2):
    cfg = RunConfig()
    cfg.data = DataConfig(setting=name, root=str(root), patch_size=16, batch_size=2,
                          balance=balance)
    cfg.train.seed, cfg.train.steps = seed, steps
    return train_dataset(cfg, resolve_setting(cfg))


def test_registry_names_and_task_ids():
    assert set(trees.BUILDERS) <= set(names())
    s = get_setting("three_task")
    assert list(s.task_names) == ["denoise_15", "denoise_25", "denoise_50", "derain", "dehaze"]
    assert get_setting("mioir7").task_names == tuple(trees.MIOIR)
    assert get_setting("daclip10").task_names == tuple(trees.DACLIP)
    assert {n: get_setting(n).protocol.name for n in ("mioir7", "three_task", "five_task", "daclip10")} == {
        "mioir7": "mioir", "three_task": "airnet", "five_task": "airnet", "daclip10": "daclip"}
    assert get_setting("daclip10").protocol.lpips and get_setting("mioir7").protocol.crop_border == 4


@pytest.mark.parametrize("name", sorted(trees.BUILDERS))
def test_check_counts_every_layout(name: str, tmp_path: Path):
    expected = trees.BUILDERS[name](tmp_path)
    report = check_setting(name, tmp_path)
    assert report.ok, report.format()
    assert report.counts("train") == expected["train"]
    assert report.counts("test") == expected["test"]


def test_mioir_ood_sets_are_optional(tmp_path: Path):
    trees.mioir7(tmp_path)
    report = check_setting("mioir7", tmp_path)
    skipped = [r.column for r in report.rows if r.skipped]
    assert skipped == [f"{t}_outbig" for t in trees.MIOIR]
    sets, notes = build_test_sets(get_setting("mioir7"), tmp_path)
    assert [ts.column for ts in sets] == trees.MIOIR
    assert len(notes) == len(trees.MIOIR) and all("_outbig" in n for n in notes)


def test_concat_epoch_follows_repetition_factors(tmp_path: Path):
    trees.three_task(tmp_path)
    ds = build_train_dataset("three_task", tmp_path, "concat", seed=1)
    # official factors: noise x3 (3 clean images per level), rain x120 (2 pairs), haze x1 (2 pairs)
    sizes = {0: 3 * 3, 1: 3 * 3, 2: 3 * 3, 3: 2 * 120, 4: 2 * 1}
    epoch = sum(sizes.values())
    assert ds.epoch_length() == epoch
    counts = collections.Counter(ds.locate(i)[0] for i in range(epoch))
    assert dict(counts) == sizes
    # every index >= 0 is valid and a pure function of (seed, i)
    far = 10 * epoch + 3
    a, b = ds[far], build_train_dataset("three_task", tmp_path, "concat", 1)[far]
    assert a["task_id"] == b["task_id"] and np.array_equal(a["lq"].numpy(), b["lq"].numpy())
    assert tuple(a["lq"].shape) == (3, 16, 16) and tuple(a["gt"].shape) == (3, 16, 16)
    assert a["lq"].dtype == a["gt"].dtype == __import__("torch").float32


def test_balanced_blocks_hold_every_task_once(tmp_path: Path):
    trees.daclip10(tmp_path)
    ds = build_train_dataset("daclip10", tmp_path, "balanced", seed=0)
    k = 10
    for block in (0, 7, 123456):
        ids = sorted(ds[block * k + j]["task_id"] for j in range(k))
        assert ids == list(range(k))


def test_paired_samples_are_crops_of_the_files(tmp_path: Path):
    trees.daclip10(tmp_path)
    ds = build_train_dataset("daclip10", tmp_path, "balanced", seed=4)
    s = ds[3]
    deg = trees.DACLIP[s["task_id"]]
    gt = s["gt"].numpy().transpose(1, 2, 0)
    files = sorted((tmp_path / f"universal/train/{deg}/GT").glob("*.png"))
    views = []
    for f in files:
        a = np.asarray(Image.open(f), dtype=np.float32) / 255.0
        views += [np.rot90(a, r) for r in range(4)] + [np.rot90(a, r)[:, ::-1] for r in range(4)]
    found = any(
        np.array_equal(v[y:y + 16, x:x + 16], gt)
        for v in views for y in range(v.shape[0] - 15) for x in range(v.shape[1] - 15)
    )
    assert found


def test_synthetic_test_noise_level_and_determinism(tmp_path: Path):
    trees.three_task(tmp_path)
    sets = {ts.column: ts for ts in build_test_sets(get_setting("three_task"), tmp_path)[0]}
    for sigma in (15, 50):
        items = list(sets[f"denoise_{sigma}"])
        again = list(sets[f"denoise_{sigma}"])
        assert [n for *_, n in items] == ["x.png", "y.png"]
        for (lq, gt, col, _), (lq2, *_) in zip(items, again):
            assert col == f"denoise_{sigma}" and lq.shape == gt.shape == (32, 32, 3)
            assert np.array_equal(lq, lq2)
            assert np.allclose(lq * 255, np.round(lq * 255), atol=1e-4)  # 8-bit values
            inner = (gt > 0.25) & (gt < 0.75)  # away from clipping
            resid = (lq - gt)[inner] * 255
            assert abs(resid.std() - sigma) < 0.15 * sigma


def test_synthetic_source_with_a_depth_folder(tmp_path: Path):
    """`depth:` in a synthetic source: maps matched by relative name (.npy, MiOIR's .mat, or
    an image), any size (resized to the image); a missing map is named by `data check`."""
    from scipy.io import savemat

    from aioir.config import dump_yaml

    trees.write(tmp_path / "clean/a.png", 1, (40, 48))
    trees.write(tmp_path / "clean/sub/b.png", 2, (40, 48))
    (tmp_path / "depth/sub").mkdir(parents=True)
    np.save(tmp_path / "depth/a.npy", np.linspace(1, 5, 40 * 48).reshape(40, 48))
    savemat(tmp_path / "depth/sub/b.mat", {"data_obj": np.linspace(2, 3, 10 * 12).reshape(10, 12)})
    setting = {"tasks": ["haze"], "train": [{"task": "haze", "kind": "synthetic",
                                             "clean": "clean", "depth": "depth"}]}
    path = tmp_path / "hazy.yaml"
    dump_yaml(setting, path)
    report = check_setting(str(path), tmp_path)
    assert report.ok, report.format()
    ds = build_train_dataset(str(path), tmp_path, "balanced", seed=0)
    assert tuple(ds[0]["lq"].shape) == (3, 16, 16)
    (tmp_path / "depth/sub/b.mat").unlink()
    report = check_setting(str(path), tmp_path)
    assert not report.ok and "missing depth map for clean/sub/b.png" in report.format()


def test_embedded_and_folder_are_template_settings(tmp_path: Path):
    """The built-in synthetic settings take any catalogue tasks; the run's task order gives the
    ids; a fixed setting takes a subset of its own tasks."""
    cfg = RunConfig()
    assert resolve_setting(cfg).task_names == tuple(trees.MIOIR)
    cfg.data.tasks = ["denoise_25", "rain"]
    s = resolve_setting(cfg)
    assert s.task_names == ("denoise_25", "rain") and [t.degrade for t in s.train] == list(
        s.task_names)
    trees.write(tmp_path / "photos/x.png", 0)
    cfg.data.setting, cfg.data.root = "folder", str(tmp_path / "photos")
    ds = train_dataset(cfg, resolve_setting(cfg))
    assert {ds[i]["task_id"] for i in range(4)} == {0, 1}
    cfg = RunConfig()
    cfg.data.setting, cfg.data.root, cfg.data.tasks = "three_task", "x", ["derain", "denoise_15"]
    s = resolve_setting(cfg)
    assert s.task_names == ("derain", "denoise_15")
    assert [t.task for t in s.train] == ["derain", "denoise_15"]
    assert [t.column for t in s.test] == ["derain", "denoise_15"]


def test_pseudo_depth_haze_is_said_and_mioir7_depth_reads_maps(tmp_path: Path, caplog):
    """mioir7 hazes with a pseudo-depth (MiOIR used predicted depth maps): `aioir data check` and
    the run log say so; the preset mioir7_depth reads the maps and says nothing."""
    import logging

    trees.mioir7_depth(tmp_path)
    notes = {r.column: r.notes for r in check_setting("mioir7", tmp_path).rows
             if r.split == "train"}
    assert any("pseudo-depth" in n and "mioir7_depth" in n for n in notes["haze"])
    assert not any("pseudo-depth" in n for c, ns in notes.items() if c != "haze" for n in ns)
    with caplog.at_level(logging.INFO, logger="aioir"):
        build_train_dataset("mioir7", tmp_path, "balanced", seed=0)
    assert any("pseudo-depth" in r.getMessage() for r in caplog.records)
    report = check_setting("mioir7_depth", tmp_path)
    assert report.ok and not any("pseudo-depth" in n for r in report.rows for n in r.notes)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="aioir"):
        ds = build_train_dataset("mioir7_depth", tmp_path, "balanced", seed=0)
    assert not any("pseudo-depth" in r.getMessage() for r in caplog.records)
    assert len(ds) > 0
    (tmp_path / "DF2K_depth/0001.npy").unlink()       # a missing map is a problem, named
    report = check_setting("mioir7_depth", tmp_path)
    assert not report.ok and "missing depth map" in report.format()


def test_embedded_lists_the_whole_photographs_as_a_group_of_their_own():
    """The demo's whole photographs are the `whole` test group of `embedded`: the 3 held-out
    photographs at their full size (scikit-image's shapes, not cropped to a multiple of 8 nor
    to val.max_size when val.group_max_size says so), degraded at seed 7 by index; the periodic
    validation's groups (`val.groups`) leave them out, `final_groups` adds them."""
    import skimage.data

    from aioir.settings.assemble import final_groups, validation_sets

    cfg = RunConfig()
    cfg.data.tasks = ["noise", "dark"]
    setting = resolve_setting(cfg)
    assert setting.groups == ["main", "whole"]
    whole = [s for s in setting.test if s.group == "whole"]
    assert [(s.task, s.seed, s.key, s.crop_multiple) for s in whole] == [
        ("noise", 7, "index", 1), ("dark", 7, "index", 1)]
    periodic, _ = validation_sets(cfg, setting)
    assert {ts.group for ts in periodic} == {"main"} and final_groups(cfg) == ["main"]

    cfg.val.final_groups, cfg.val.group_max_size = ["main", "whole"], {"whole": None}
    sets, notes = validation_sets(cfg, setting, groups=final_groups(cfg))
    by_group = {g: [ts for ts in sets if ts.group == g] for g in ("main", "whole")}
    assert [ts.column for ts in by_group["whole"]] == ["noise", "dark"] and not notes
    assert len(sets) == 4
    shapes = sorted(getattr(skimage.data, n)().shape for n in ("chelsea", "coffee", "rocket"))
    for ts in by_group["whole"]:  # (300, 451): not a multiple of 8
        assert sorted(gt.shape for _, gt, _, _ in ts) == shapes
    assert all(max(gt.shape) <= 192 and gt.shape[0] % 8 == 0
               for _, gt, _, _ in by_group["main"][0])
    cfg.val.group_max_size = {"whole": 40}
    capped, _ = validation_sets(cfg, setting, groups=["whole"])
    assert all(max(gt.shape[:2]) == 40 for _, gt, _, _ in capped[0])
