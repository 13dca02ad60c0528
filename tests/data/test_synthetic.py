"""Synthetic training mixes and synthetic test sets with injected fake degradations (and one real
smoke test)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aioir.data.synthetic import SyntheticTask, synthetic_mix
from aioir.data.testsets import SyntheticTestSet

FACTORS = {"half": 0.5, "third": 1 / 3, "same": 1.0}
TASKS = list(FACTORS)


class ListSource:
    """Images whose channel 0 encodes the pixel position and channel 1 the image index."""

    def __init__(self, sizes: list[tuple[int, int]]) -> None:
        self.names = [f"img{j}" for j in range(len(sizes))]
        self.images = []
        for j, (h, w) in enumerate(sizes):
            img = np.zeros((h, w, 3), np.float32)
            img[..., 0] = (np.arange(h * w).reshape(h, w) % 256) / 255.0
            img[..., 1] = j / 255.0
            img[..., 2] = (np.arange(h * w).reshape(h, w) // 256) / 255.0
            self.images.append(img)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, j: int) -> np.ndarray:
        return self.images[j]


def position(img: np.ndarray) -> np.ndarray:
    """Decode the flat pixel position stored in channels 0 and 2 (HWC array)."""
    return np.round(img[..., 0] * 255).astype(int) + 256 * np.round(img[..., 2] * 255).astype(int)


def scale(task: str, img: np.ndarray, rng: np.random.Generator, dist: str = "in"):
    """Multiply by the task's factor (halved again for dist='out')."""
    f = FACTORS[task] * (0.5 if dist == "out" else 1.0)
    return img * f, {"factor": f}


def noisy(task: str, img: np.ndarray, rng: np.random.Generator, dist: str = "in"):
    return img * FACTORS[task] + rng.uniform(0, 0.01, img.shape), {}


def assert_rounded(lq: np.ndarray, exact: np.ndarray) -> None:
    """``lq`` is ``exact`` rounded to the nearest of the 256 levels (either one at a tie)."""
    levels = np.asarray(lq, np.float64) * 255
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
    assert np.all(np.abs(levels - np.clip(exact, 0, 1) * 255) <= 0.5 + 1e-3)


def hwc(t: torch.Tensor) -> np.ndarray:
    return t.numpy().transpose(1, 2, 0)


def make(**kw):
    opts = dict(source=ListSource([(40, 50), (30, 64)]), tasks=TASKS, patch_size=16, seed=3, length=60,
                degrade=scale)
    opts.update(kw)
    return synthetic_mix(**opts)


def test_same_seed_and_index_give_identical_samples() -> None:
    a, b = make(degrade=noisy), make(degrade=noisy)
    for i in (0, 7, 59, 7):
        sa, sb = a[i], b[i]
        assert torch.equal(sa["lq"], sb["lq"]) and torch.equal(sa["gt"], sb["gt"])
        assert sa["task_id"] == sb["task_id"]
    assert not torch.equal(a[1]["gt"], a[2]["gt"])
    assert not torch.equal(make(seed=4, degrade=noisy)[7]["gt"], a[7]["gt"])


def test_task_balance_is_exact_per_block_and_lq_matches_task() -> None:
    ds = make()
    ids = [ds[i]["task_id"] for i in range(60)]
    for b in range(20):
        assert sorted(ids[3 * b : 3 * b + 3]) == [0, 1, 2]
    assert ids == [ds.locate(i)[0] for i in range(60)]
    for i in range(6):
        s = ds[i]
        gt = hwc(s["gt"]).astype(np.float64)
        assert_rounded(hwc(s["lq"]), gt * FACTORS[TASKS[s["task_id"]]])


def test_random_balance_draws_tasks() -> None:
    ids = [make(balance="random", augment=False).locate(i)[0] for i in range(60)]
    assert set(ids) == {0, 1, 2}
    assert any(sorted(ids[b : b + 3]) != [0, 1, 2] for b in range(0, 60, 3))


def test_patches_are_windows_of_a_source_image() -> None:
    src = ListSource([(40, 50), (30, 64)])
    ds = make(source=src, augment=False, patch_size=(8, 12))
    for i in range(10):
        gt = hwc(ds[i]["gt"])
        assert gt.shape == (8, 12, 3)
        j = int(round(gt[0, 0, 1] * 255))  # noqa: RUF046 - a numpy float rounds to a float
        w = src[j].shape[1]
        y0, x0 = divmod(int(position(gt)[0, 0]), w)
        assert np.array_equal(gt, src[j][y0 : y0 + 8, x0 : x0 + 12])


def test_augmented_patches_are_symmetries_of_windows() -> None:
    src = ListSource([(40, 50)])
    ds = make(source=src, augment=True)
    found = set()
    for i in range(30):
        gt = hwc(ds[i]["gt"])
        candidates = [np.rot90(gt, r) for r in range(4)] + [np.rot90(gt[:, ::-1], r) for r in range(4)]
        ok = False
        for k, c in enumerate(candidates):
            y0, x0 = divmod(int(position(c)[0, 0]), 50)
            if y0 + 16 <= 40 and x0 + 16 <= 50 and np.array_equal(c, src[0][y0 : y0 + 16, x0 : x0 + 16]):
                ok = True
                found.add(k)
                break
        assert ok
    assert len(found) > 4  # several different flips/rotations occur


def test_small_images_are_reflect_padded() -> None:
    src = ListSource([(5, 6)])
    gt = hwc(make(source=src, augment=False, patch_size=8)[0]["gt"])
    rows, cols = [0, 1, 2, 3, 4, 3, 2, 1], [0, 1, 2, 3, 4, 5, 4, 3]
    expected = np.array([[r * 6 + c for c in cols] for r in rows])
    assert np.array_equal(position(gt), expected)


def test_full_images_when_patch_size_is_none() -> None:
    ds = make(patch_size=None, augment=False, source=ListSource([(10, 12)]))
    assert tuple(ds[0]["gt"].shape) == (3, 10, 12) == tuple(ds[0]["lq"].shape)


def test_quantize_flag_and_dist_is_passed() -> None:
    q = make(degrade=noisy)[0]["lq"].numpy()
    assert np.allclose(q * 255, np.round(q * 255), atol=1e-4)
    raw = make(degrade=noisy, quantize=False)[0]["lq"].numpy()
    assert not np.allclose(raw * 255, np.round(raw * 255), atol=1e-3)
    s_in, s_out = make(augment=False)[0], make(augment=False, dist="out")[0]
    f = FACTORS[TASKS[s_in["task_id"]]]
    gt = s_in["gt"].numpy()
    assert_rounded(s_out["lq"].numpy(), gt * f * 0.5)


def test_views_are_patch_crops_of_one_degraded_region() -> None:
    """AirNet's views: same-size crops of ONE degraded region; view 0 is lq, paired with gt."""
    ds = synthetic_mix(ListSource([(40, 44)]), TASKS, 8, seed=3, length=30, augment=False,
                       degrade=scale, views=3)
    clean = ListSource([(40, 44)])[0]
    for i in range(6):
        s = ds[i]
        f = FACTORS[TASKS[s["task_id"]]]
        views = s["lq_views"].numpy()
        assert views.shape == (3, 3, 8, 8)
        assert np.array_equal(views[0], s["lq"].numpy())
        gt = hwc(s["gt"])
        assert_rounded(hwc(s["lq"]), gt * f)  # view 0 is the degraded gt window
        gy, gx = np.unravel_index(position(gt)[0, 0], clean.shape[:2])  # where gt was cut
        for v in views:  # every view is a degraded window of the clean image...
            v = v.transpose(1, 2, 0).astype(np.float64) * 255
            hits = [(y, x) for y in range(33) for x in range(37)
                    if np.all(np.abs(v - clean[y:y + 8, x:x + 8] * f * 255) <= 0.5 + 1e-3)]
            assert hits, "a view is not a degraded window of the clean image"
            # ...inside the same 16x16 region as gt (scaled codes can match elsewhere too)
            assert any(abs(y - gy) <= 8 and abs(x - gx) <= 8 for y, x in hits)
    assert "lq_views" not in make()[0]
    with pytest.raises(ValueError, match="patch_size"):
        make(views=2, patch_size=None)


def test_default_collate_and_errors() -> None:
    batch = next(iter(torch.utils.data.DataLoader(make(views=2), batch_size=4)))
    assert batch["lq"].shape == (4, 3, 16, 16) and batch["lq_views"].shape == (4, 2, 3, 16, 16)
    assert batch["task_id"].dtype == torch.int64
    with pytest.raises(IndexError):
        make()[-1]

    def crop(task, img, rng, dist="in"):
        return img[1:], {}

    with pytest.raises(ValueError, match="shape"):
        make(degrade=crop)[0]


def test_real_degradations_smoke() -> None:
    from aioir.data.sources import EmbeddedPhotos

    ds = synthetic_mix(EmbeddedPhotos("test"), ["noise", "dark"], patch_size=24, seed=0, length=2)
    for i in range(2):
        s = ds[i]
        assert s["lq"].shape == s["gt"].shape == (3, 24, 24)
        lq = s["lq"].numpy()
        assert np.allclose(lq * 255, np.round(lq * 255), atol=1e-4)
        assert float((s["lq"] - s["gt"]).abs().mean()) > 1e-3
    import pickle  # DataLoader workers receive a pickled copy: it must give the same samples

    copy = pickle.loads(pickle.dumps(ds))
    assert torch.equal(copy[1]["lq"], ds[1]["lq"])


def test_synthetic_test_set_is_deterministic_and_documented() -> None:
    src = ListSource([(37, 45), (20, 70)])

    def make_set(task, t, seed=5):
        return SyntheticTestSet(src, task, seed=seed, key="index", task_index=t, max_size=32,
                                multiple=8, degrade=noisy)

    for t, task in enumerate(TASKS):
        a, b = list(make_set(task, t)), list(make_set(task, t))
        assert len(a) == 2
        for (lq_a, gt_a, _, _), (lq_b, gt_b, _, _) in zip(a, b):
            assert np.array_equal(lq_a, lq_b) and np.array_equal(gt_a, gt_b)
        for j, (lq, gt, column, name) in enumerate(a):
            assert (column, name) == (task, f"img{j}")
            h, w = src[j].shape[:2]
            th, tw = min(h, 32) // 8 * 8, min(w, 32) // 8 * 8
            y0, x0 = (h - th) // 2, (w - tw) // 2
            assert np.array_equal(gt, src[j][y0 : y0 + th, x0 : x0 + tw])
            noise = np.random.default_rng([5, t, j]).uniform(0, 0.01, gt.shape)
            assert_rounded(lq, gt.astype(np.float64) * FACTORS[task] + noise)
    other = list(make_set(TASKS[0], 0, seed=6))
    assert not np.array_equal(other[0][0], next(iter(make_set(TASKS[0], 0)))[0])


def test_synthetic_test_set_name_key_and_subset() -> None:
    """key='name': image j's generator is name_rng(seed, name), whatever the other images."""
    from aioir.data.sampling import name_rng

    src = ListSource([(16, 16)] * 5)
    ts = SyntheticTestSet(src, "same", seed=7, degrade=noisy, max_images=2)
    items = list(ts)
    assert [name for *_, name in items] == ["img0", "img4"]  # evenly spaced
    for lq, gt, _, name in items:
        noise = name_rng(7, name).uniform(0, 0.01, gt.shape)
        assert_rounded(lq, gt.astype(np.float64) + noise)


@pytest.mark.parametrize("quantize", [True, False])
def test_rain_training_crops_equal_the_crop_of_the_whole_rained_image(quantize):
    """The training path degrades rain through the window-only path; every sample equals the
    MiOIR recipe written out here: the whole image rained (``apply``), clipped, then cut
    and rounded to 8 bits (same generator, same order of draws)."""
    from aioir.data.sources import EmbeddedPhotos
    from aioir.data.transforms import dihedral, quantize8
    from aioir.degradations import apply, draw_params

    source = EmbeddedPhotos("test")
    comp = SyntheticTask(source, "rain", 24, quantize=quantize)
    for i in range(4):
        got = comp.sample(i % len(source), np.random.default_rng([7, i]))
        rng = np.random.default_rng([7, i])
        img = source[i % len(source)]
        y = int(rng.integers(0, img.shape[0] - 24 + 1))
        x = int(rng.integers(0, img.shape[1] - 24 + 1))
        k = int(rng.integers(8))
        params = draw_params("rain", rng)
        whole, _ = apply("rain", np.array(img, dtype=np.float32), rng, **params)
        lq = np.clip(whole, 0.0, 1.0)[y:y + 24, x:x + 24]
        lq = quantize8(lq) if quantize else lq
        expect = dihedral(lq, k)
        assert np.array_equal(got["lq"].numpy(), np.ascontiguousarray(expect.transpose(2, 0, 1)))


def test_the_classifier_stream_leaves_the_samples_unchanged_and_degrades_a_variant():
    """With classifier_copies the restoration samples are bit-identical to those without it;
    lq_cls/gt_cls are a degraded/clean pair of the same task: for JPEG the degraded patch sits
    on a JPEG quantiser lattice at one of the 64 grid offsets (the window is cut anywhere in
    the JPEG-compressed region) and as it is or transposed (4 of the 8 flips/rotations
    transpose the blocks, and the table is not symmetric), the clean one at none; the stream
    is reproducible."""
    from aioir.data.sources import EmbeddedPhotos
    from aioir.data.synthetic import synthetic_mix
    from aioir.models.degradation_stats import jpeg_lattice

    def best_offset(x):
        return max(float(jpeg_lattice(y[None, :, dy:, dx:])) for y in (x, x.transpose(1, 2))
                   for dy in range(8) for dx in range(8))

    src = EmbeddedPhotos("test")
    plain = synthetic_mix(src, ["jpeg", "noise"], 64, seed=3, length=6)
    with_cls = synthetic_mix(src, ["jpeg", "noise"], 64, seed=3, length=6, classifier_copies=2)
    again = synthetic_mix(src, ["jpeg", "noise"], 64, seed=3, length=6, classifier_copies=2)
    jpeg_seen = 0
    for i in range(6):
        a, b = plain[i], with_cls[i]
        assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])
        assert a["task_id"] == b["task_id"] and "lq_cls" not in a
        assert b["lq_cls"].shape == b["gt_cls"].shape == a["lq"].shape
        assert torch.equal(b["lq_cls"], again[i]["lq_cls"])
        if b["task_id"] == 0 and float(b["gt_cls"].std()) > 0.05:  # jpeg, a textured patch
            jpeg_seen += 1
            assert best_offset(b["lq_cls"]) > 0.7
            assert best_offset(b["gt_cls"]) < 0.5
    assert jpeg_seen
