"""On-the-fly training samples have the distribution of MiOIR's full-image synthesis.

MiOIR degrades every full training image, then cuts patches. The references here implement
that procedure independently (scipy.signal / the degradation functions on the whole image) and
compare it with :class:`aioir.data.synthetic.SyntheticTask`'s samples drawn with the same
generator: the rain layer's brightness (min-max normalised over the whole image), haze with the
whole image's depth, and the grid/border context of blur, SR and JPEG.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage, signal

from aioir.data.synthetic import SyntheticTask
from aioir.degradations import apply, draw_params
from aioir.degradations.rain import streak_kernel


class Images:
    """A source of fixed images (``names`` img0, img1, ...)."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images = images
        self.names = [f"img{j}.png" for j in range(len(images))]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, j: int) -> np.ndarray:
        return self.images[j]


def _replay(seed: int, i: int, item: int, shape: tuple[int, int], patch: int, task: str):
    """The draws SyntheticTask makes for sample ``i`` (augment off): window, then parameters;
    returns them with the generator positioned where the degradation starts."""
    rng = np.random.default_rng([seed, i])
    y = int(rng.integers(0, shape[0] - patch + 1))
    x = int(rng.integers(0, shape[1] - patch + 1))
    params = draw_params(task, rng)
    return (y, x), params, rng


def _mioir_rain_layer(shape, rng, value, length, angle, width) -> np.ndarray:
    """MiOIR's rain layer of a whole image (data_script add_rain / get_noise / rain_blur):
    seeds where U(0, 256) >= 256 - value / 100, a 3x3 filter (OpenCV borders: reflect-101),
    the streak kernel, min-max normalisation over the whole image, uint8 truncation."""
    u = rng.uniform(0.0, 256.0, size=shape)
    seeds = np.where(u >= 256.0 - value / 100.0, u, 0.0)
    seeds = ndimage.correlate(seeds, np.array([[0, .1, 0], [.1, 8, .1], [0, .1, 0]]),
                              mode="mirror")
    k = streak_kernel(length, angle, width)
    r = k.shape[0] // 2
    streaks = signal.fftconvolve(np.pad(seeds, r, mode="reflect"), k, mode="valid")
    streaks = (streaks - streaks.min()) / (streaks.max() - streaks.min())
    return np.floor(streaks * 255.0) / 255.0


def test_rain_brightness_matches_the_full_image_procedure():
    """Mean rain-layer brightness of training patches equals MiOIR's (whole image normalised)
    within 5 %; rain synthesised on the patch alone (the old way) is far brighter."""
    sizes = [(384, 384), (320, 480)]
    src = Images([np.zeros((*s, 3), np.float32) for s in sizes])  # black: lq is the layer
    patch, seed = 64, 7
    comp = SyntheticTask(src, "rain", patch, augment=False, quantize=True)
    ours, mioir, crop_first = [], [], []
    for i in range(24):
        item = i % 2
        (y, x), params, rng = _replay(seed, i, item, sizes[item], patch, "rain")
        sample = comp.sample(item, np.random.default_rng([seed, i]))
        ours.append(float(sample["lq"].mean()))
        full = _mioir_rain_layer(sizes[item], rng, **params)
        mioir.append(float(full[y : y + patch, x : x + patch].mean()))
        alone = _mioir_rain_layer((patch, patch), np.random.default_rng([seed, i, 1]), **params)
        crop_first.append(float(alone.mean()))
    ratio = np.mean(ours) / np.mean(mioir)
    assert abs(ratio - 1) < 0.05, ratio
    assert np.mean(crop_first) / np.mean(mioir) > 1.15  # what the test guards against


@pytest.mark.parametrize("with_depth", [True, False])
def test_haze_uses_the_whole_images_depth(tmp_path, with_depth):
    """The haze of a patch is the patch of the whole image's haze: depth divided by the
    maximum over the whole image (a depth folder's map, or the whole image's pseudo-depth)."""
    from aioir.data.depth import DepthFolder
    from aioir.degradations.depth import pseudo_depth

    rng = np.random.default_rng(0)
    img = ndimage.gaussian_filter(rng.random((96, 80, 3)), (4, 4, 0)).astype(np.float32)
    depth = np.linspace(1.0, 9.0, 96)[:, None] * np.ones((1, 80))
    np.save(tmp_path / "img0.npy", depth)
    src = Images([img])
    comp = SyntheticTask(src, "haze", 24, augment=False, quantize=False,
                         depth=DepthFolder(tmp_path, src.names) if with_depth else None)
    for i in range(4):
        (y, x), params, _ = _replay(3, i, 0, img.shape[:2], 24, "haze")
        sample = comp.sample(0, np.random.default_rng([3, i]))
        d = depth if with_depth else pseudo_depth(img)
        t = np.exp(-params["beta"] * d / d.max())[:, :, None]
        whole = np.clip(img * t + params["airlight"] * (1 - t), 0, 1)
        lq = sample["lq"].numpy().transpose(1, 2, 0)
        np.testing.assert_allclose(lq, whole[y : y + 24, x : x + 24], atol=1e-5)


@pytest.mark.parametrize("task", ["blur", "sr", "jpeg", "noise", "dark"])
def test_local_tasks_give_the_window_of_the_whole_image_result(task):
    """Blur borders, the 4-pixel SR grid and the 16-pixel JPEG grid come from the whole image:
    a training window equals the same window of the degradation applied to the whole image."""
    rng = np.random.default_rng(1)
    img = ndimage.gaussian_filter(rng.random((96, 112, 3)), (2, 2, 0)).astype(np.float32)
    src = Images([img])
    comp = SyntheticTask(src, task, 40, augment=False, quantize=True)
    for i in range(3):
        (y, x), params, drng = _replay(5, i, 0, img.shape[:2], 40, task)
        sample = comp.sample(0, np.random.default_rng([5, i]))
        if task in ("noise", "dark"):  # pixel-wise: the window itself is degraded
            whole = np.zeros_like(img)
            whole[y : y + 40, x : x + 40], _ = apply(task, img[y : y + 40, x : x + 40], drng,
                                                     **params)
        else:
            whole, _ = apply(task, img, drng, **params)
        expected = np.round(np.clip(whole[y : y + 40, x : x + 40], 0, 1) * 255) / 255
        lq = sample["lq"].numpy().transpose(1, 2, 0)
        np.testing.assert_allclose(lq, expected, atol=1e-6)


def test_rotations_apply_to_the_degraded_patch():
    """As MiOIR's loader augments patches of pre-degraded images, a flipped/rotated sample is
    the symmetry of the degraded window (rain streaks turn with it)."""
    from aioir.data.transforms import dihedral

    img = np.zeros((128, 128, 3), np.float32)
    comp = SyntheticTask(Images([img]), "rain", 32, augment=True)
    turns = set()
    for i in range(8):
        rng = np.random.default_rng([2, i])
        y, x = int(rng.integers(0, 97)), int(rng.integers(0, 97))
        k = int(rng.integers(8))
        params = draw_params("rain", rng)
        whole, _ = apply("rain", img, rng, **params)
        expected = dihedral(np.round(whole[y : y + 32, x : x + 32] * 255) / 255, k)
        got = comp.sample(0, np.random.default_rng([2, i]))["lq"].numpy().transpose(1, 2, 0)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        turns.add(k)
    assert len(turns) > 2
