"""Depth maps for haze, matched to clean images by relative name.

A depth folder mirrors the clean-image folder: the map of ``sub/0001.png`` is
``sub/0001.npy``, ``sub/0001.mat`` (MiOIR's format: the array ``data_obj``, or the file's only
array) or a greyscale image ``sub/0001.<image extension>`` (its first channel). A map of
another size than its image (MiOIR stores its maps at a quarter of the resolution and enlarges
them with OpenCV's bilinear ``resize``) is resized bilinearly to the image.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp()); np.save(d / "a.npy", np.ones((2, 3)))
>>> depth_file(d, "a.png").name, load_depth(d, "a.png", (4, 6)).shape
('a.npy', (4, 6))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aioir.data.io import IMAGE_EXTENSIONS, read_image


def depth_file(folder: str | Path, rel: str) -> Path | None:
    """The depth file of the clean image ``rel`` (relative path) in ``folder``, or None."""
    base = Path(folder) / Path(rel).with_suffix("")
    for ext in (".npy", ".mat", *IMAGE_EXTENSIONS):
        cand = base.with_name(base.name + ext)
        if cand.is_file():
            return cand
    return None


def read_depth(path: str | Path) -> np.ndarray:
    """The (H, W) float64 map stored in ``path`` (``.npy``, ``.mat`` or an image)."""
    path = Path(path)
    if path.suffix == ".npy":
        d = np.load(path, allow_pickle=False)
    elif path.suffix == ".mat":
        from scipy.io import loadmat

        arrays = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        if "data_obj" in arrays:
            d = arrays["data_obj"]
        elif len(arrays) == 1:
            (d,) = arrays.values()
        else:
            raise ValueError(f"{path}: no 'data_obj' array and several arrays {sorted(arrays)}")
    else:
        d = read_image(path)[:, :, 0]
    d = np.asarray(d, dtype=np.float64)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.ndim != 2:
        raise ValueError(f"{path}: a depth map must be 2-D, got shape {d.shape}")
    return d


def resize_depth(depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``depth`` resized bilinearly (pixel centres aligned, as OpenCV) to ``shape = (H, W)``."""
    if depth.shape == tuple(shape):
        return depth
    from PIL import Image

    img = Image.fromarray(np.asarray(depth, dtype=np.float32), mode="F")
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), np.float64)


def load_depth(folder: str | Path, rel: str, shape: tuple[int, int]) -> np.ndarray:
    """The depth map of clean image ``rel`` at the image's ``shape``; ``FileNotFoundError``
    naming the expected files when there is none."""
    path = depth_file(folder, rel)
    if path is None:
        stem = Path(rel).with_suffix("").as_posix()
        raise FileNotFoundError(f"no depth map for {rel} in {folder} ({stem}.npy, .mat or an "
                                "image)")
    return resize_depth(read_depth(path), shape)


class DepthFolder:
    """``depth(item, img)`` for :class:`aioir.data.synthetic.SyntheticTask`: the map of clean
    image ``names[item]`` read from ``folder`` at the image's size (picklable, for DataLoader
    workers)."""

    def __init__(self, folder: str | Path, names: list[str]) -> None:
        self.folder = Path(folder)
        self.names = list(names)

    def __call__(self, item: int, img: np.ndarray) -> np.ndarray:
        return load_depth(self.folder, self.names[item], img.shape[:2])
