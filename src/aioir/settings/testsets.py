"""Test sets of a setting as lazy iterables of ``(lq HWC, gt HWC, column, name)``.

Paired and list sets read their files in sorted order. Synthetic sets (BSD68 at a fixed noise
level) degrade every clean image with ``default_rng([seed, name_seed(relative name)])`` and
round the result to 8 bits (the noisy images PromptIR/AirNet evaluate are ``uint8``): the same
seed gives the same noisy images on every machine, and adding a file changes no other image.
With ``crop_multiple > 1`` both images are centre-cropped to a multiple of it (PromptIR's
``crop_img(base=16)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from aioir.settings.sources import Collection, collect


class TestSet:
    """One test set: ``len()`` is its number of images; iterating reads them one at a time."""

    __test__ = False  # not a pytest class

    def __init__(self, col: Collection, crop_multiple: int = 1) -> None:
        self.col = col
        self.spec = col.spec
        self.crop_multiple = int(crop_multiple)

    @property
    def column(self) -> str:
        return self.spec.column

    def __len__(self) -> int:
        return self.col.count

    def _crop(self, img: np.ndarray) -> np.ndarray:
        if self.crop_multiple <= 1:
            return img
        from aioir.data.transforms import center_crop

        return np.ascontiguousarray(center_crop(img, None, self.crop_multiple))

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, str, str]]:
        from aioir.data.io import read_image

        if self.spec.kind == "synthetic":
            from aioir.data.synthetic import default_degrade, run_degrade
            from aioir.settings.datasets import name_seed

            degrade = default_degrade()
            folder = self.col.root / str(self.spec.clean)
            for path in self.col.images:
                name = path.relative_to(folder).as_posix()
                gt = self._crop(read_image(path))
                rng = np.random.default_rng([self.spec.seed, name_seed(name)])
                lq = run_degrade(degrade, str(self.spec.degrade), gt, rng, "in", True)
                yield lq, gt, self.column, name
            return
        for lq_path, gt_path in self.col.pairs:
            lq, gt = read_image(lq_path), read_image(gt_path)
            yield self._crop(lq), self._crop(gt), self.column, self.col.rel(lq_path)


def build_test_sets(setting: Any, root: str | Path, group: str | None = None
                    ) -> list[tuple[str, TestSet]]:
    """``[(column, TestSet)]`` of ``setting`` under ``root`` (see :meth:`Setting.test_sets`)."""
    out = []
    for spec in setting.test:
        if group is not None and spec.group != group:
            continue
        col = collect(spec, root)
        if col.problems:
            missing_only = all(p.startswith(("missing folder", "missing list file"))
                               for p in col.problems)
            if spec.optional and missing_only:
                continue
            head = "\n  ".join(col.problems[:10])
            raise FileNotFoundError(
                f"setting {setting.name!r}, test set {spec.column!r} under {root}:\n  {head}\n"
                f"run `aioir data check {setting.name} --root {root}`")
        out.append((spec.column, TestSet(col, setting.crop_multiple)))
    return out
