"""Photographs without ground truth, end to end: ``aioir eval CHECKPOINT --photos DIR`` scores
the photos as given and restored with NIQE and BRISQUE, and ``aioir report`` shows them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from aioir.cli import main
from aioir.metrics.brisque import brisque
from aioir.metrics.niqe import niqe
from aioir.report.build import make_report


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos") / "my photos"
    folder.mkdir()
    for name in ("chelsea", "coffee"):
        Image.fromarray(getattr(skimage.data, name)()[:192, :200]).save(folder / f"{name}.png")
    return folder


def test_eval_photos_then_report(bench_dir, photos, tmp_path, capsys):
    import shutil

    run = tmp_path / "runs" / "tur"  # a copy: the session's runs stay as the other tests see them
    shutil.copytree(bench_dir / "tur" / "seed0", run)
    ckpt = sorted((run / "checkpoints").glob("step_*.pt"))[-1]
    assert main(["eval", str(ckpt), "--photos", str(photos), "--name", "mine"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((run / "eval" / "photos_mine.json").read_text())
    assert [r["name"] for r in result["records"]] == ["chelsea.png", "coffee.png"]
    given = [np.asarray(Image.open(photos / f"{n}.png")) for n in ("chelsea", "coffee")]
    want = {"niqe": np.mean([niqe(g) for g in given]),
            "brisque": np.mean([brisque(g) for g in given])}
    for metric, value in want.items():
        assert result["mean"]["input"][metric] == pytest.approx(value, abs=1e-9)
        assert f"{value:.3f}" in printed
    out = make_report([tmp_path / "runs"], tmp_path / "report", figures=False, cost=False)
    table = next(t for t in out.document.tables if t.id == "photos")
    assert table.headers == ["method", "images", "mine: NIQE", "mine: BRISQUE"]
    assert table.rows[0][2:] == [f"{want['niqe']:.3f}", f"{want['brisque']:.3f}"]
    tur = next(r for r in table.rows if r[0] == "tur")
    assert tur[2] == f"{result['mean']['output']['niqe']:.3f}"
    assert "Photographs without ground truth" in (out.out / "report.md").read_text()


def test_photos_folder_must_exist(bench_dir, tmp_path):
    ckpt = sorted((bench_dir / "tur" / "seed0" / "checkpoints").glob("step_*.pt"))[-1]
    assert main(["eval", str(ckpt), "--photos", str(tmp_path / "nothing")]) != 0
