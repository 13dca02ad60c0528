"""Clean-image sources: the embedded scikit-image photographs and folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from aioir.data.io import ImageReadError
from aioir.data.sources import EmbeddedPhotos, FolderSource


def test_embedded_split_is_fixed_and_disjoint() -> None:
    train, test, everything = EmbeddedPhotos("train"), EmbeddedPhotos("test"), EmbeddedPhotos("all")
    assert test.names == ["chelsea", "coffee", "rocket"]  # the split documented in docs/data.md
    assert len(train) == 11
    assert not set(train.names) & set(test.names)
    assert sorted(train.names + test.names) == everything.names
    with pytest.raises(ValueError, match="split"):
        EmbeddedPhotos("val")  # type: ignore[arg-type]


def test_embedded_photos_are_the_scikit_image_pixels() -> None:
    src = EmbeddedPhotos("all")
    astronaut = src[src.names.index("astronaut")]
    np.testing.assert_allclose(astronaut, skdata.astronaut() / 255.0, atol=1e-7)
    camera = src[src.names.index("camera")]  # grey, repeated to RGB
    assert camera.shape == (512, 512, 3)
    for c in range(3):
        np.testing.assert_allclose(camera[..., c], skdata.camera() / 255.0, atol=1e-7)
    motorcycle = src[src.names.index("motorcycle_left")]
    np.testing.assert_allclose(motorcycle, skdata.stereo_motorcycle()[0] / 255.0, atol=1e-7)


def test_every_embedded_photo_loads_offline() -> None:
    src = EmbeddedPhotos("all")
    for i, name in enumerate(src.names):
        img = src[i]
        assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3, name
        assert min(img.shape[:2]) >= 256, name
        assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0, name
        assert float(img.std()) > 0.02, name  # a real picture, not a flat field


def test_cache_returns_the_same_read_only_array() -> None:
    src = EmbeddedPhotos("test")
    a = src[1]
    assert src[1] is a
    assert not a.flags.writeable
    with pytest.raises(IndexError):
        src[3]


def test_folder_source(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {"b.png": rng.integers(0, 256, (4, 5, 3), dtype=np.uint8),
              "a/z.png": rng.integers(0, 256, (6, 3, 3), dtype=np.uint8)}
    for rel, a in arrays.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(tmp_path / rel)
    (tmp_path / "readme.txt").write_text("not an image")
    src = FolderSource(tmp_path)
    assert src.names == ["a/z.png", "b.png"]
    for i, name in enumerate(src.names):
        np.testing.assert_allclose(src[i], arrays[name] / 255.0, atol=1e-7)
    assert FolderSource(tmp_path, recursive=False).names == ["b.png"]


def test_folder_source_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        FolderSource(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        FolderSource(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG garbage")
    src = FolderSource(tmp_path / "bad")
    with pytest.raises(ImageReadError, match=r"broken.png"):
        src[0]
