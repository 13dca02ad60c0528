"""``make_report`` on tiny finished runs (2 strategies x 2 seeds): every number the report shows
recomputed here independently (numpy over the runs' own JSON, scikit-image PSNR, the uncertainty
head re-run by hand), the page self-contained, and the output folder never someone else's."""

from __future__ import annotations

import base64
import csv
import json
import re
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from aioir import models
from aioir.report.build import default_out, make_report
from aioir.report.outdir import MANIFEST
from aioir.strategies.uem import UncertaintyHead

TASKS = ["noise", "dark", "jpeg"]
CROP = 4  # the mioir protocol's border crop


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def _psnr(out: np.ndarray, gt: np.ndarray) -> float:
    c = slice(CROP, -CROP)
    return peak_signal_noise_ratio(_u8(gt)[c, c], _u8(out)[c, c], data_range=255)


class _Sample(NamedTuple):
    lq: np.ndarray
    gt: np.ndarray
    task: str
    name: str


class _TestSet(list):
    def for_task(self, task: str) -> list[_Sample]:
        return [s for s in self if s.task == task]


def _test_set() -> _TestSet:  # the images the runs validated on (val seed 1234, 32 px crops)
    from report_runs import tiny_run_config

    from aioir.settings.assemble import validation_sets

    sets, _ = validation_sets(tiny_run_config("mixed", 0))
    return _TestSet(_Sample(*item) for ts in sets for item in ts)


def _latest_eval(run: Path) -> dict:
    return json.loads(sorted((run / "eval").glob("step_*.json"))[-1].read_text())


@pytest.fixture(scope="module")
def report(bench_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "report"
    return make_report([bench_dir], out, baseline="mixed")


@pytest.fixture(scope="module")
def report_json(report) -> dict:
    return json.loads((report.out / "report.json").read_text())


def _figure(report_json: dict, fid: str) -> dict:
    return next(f for f in report_json["figures"] if f["id"] == fid)


def test_table_is_mean_and_sample_std_over_seeds_of_the_runs_json(bench_dir, report, report_json):
    md = (report.out / "report.md").read_text()
    rows = {r["label"]: r for r in report_json["rows"]}
    means = {}
    for strategy in ("mixed", "tur"):
        evals = [_latest_eval(bench_dir / strategy / f"seed{s}") for s in (0, 1)]
        cells = []
        for col in [*TASKS, "Average"]:
            scores = {}
            for metric in ("psnr", "ssim"):
                vals = [e["average" if col == "Average" else "per_task"] for e in evals]
                vals = np.array([v[metric] if col == "Average" else v[col][metric] for v in vals])
                mean, std = vals.mean(), vals.std(ddof=1)
                got = rows[strategy]["scores"][col][metric]
                assert got["mean"] == pytest.approx(mean, abs=1e-12)
                assert got["std"] == pytest.approx(std, abs=1e-12) and got["n"] == 2
                digits = 2 if metric == "psnr" else 4
                scores[metric] = f"{mean:.{digits}f} ± {std:.{digits}f}"
            cells.append(f"{scores['psnr']} / {scores['ssim']}")
            means[(strategy, col)] = float(
                np.mean([e["average"]["psnr"] if col == "Average" else e["per_task"][col]["psnr"]
                         for e in evals]))
        assert re.search(rf"^\| {strategy} +\| +2 \| " + r" \| ".join(
            r" *" + re.escape(c) for c in cells) + r" \|", md, re.M), strategy
    # difference rows: the paired estimate (same seeds, same images: the difference of the
    # means) with its 95 % interval around it
    diffs = [f"{means[('tur', c)] - means[('mixed', c)]:+.2f}" for c in [*TASKS, "Average"]]
    interval = r" \[[-+]\d+\.\d\d, [-+]\d+\.\d\d\]\*?"
    assert re.search(r"^\| tur vs mixed \(dB\) +\| +\| " + r" \| ".join(
        r" *" + re.escape(d) + interval for d in diffs) + r" \|", md, re.M)
    for c in [*TASKS, "Average"]:
        iv = report_json["paired_differences"]["tur"][c]
        assert iv["estimate"] == pytest.approx(means[("tur", c)] - means[("mixed", c)], abs=1e-9)
        assert iv["lo"] <= iv["estimate"] <= iv["hi"] and iv["seeds"] == 2
    # the CSV holds the same numbers, at full precision
    with (report.out / "results.csv").open() as fh:
        lines = {(r["method"], r["column"], r["metric"]): r for r in csv.DictReader(fh)}
    line = lines[("tur", "Average", "psnr")]
    assert float(line["mean"]) == pytest.approx(means[("tur", "Average")], abs=1e-12)
    assert float(line["diff_vs_baseline"]) == pytest.approx(
        means[("tur", "Average")] - means[("mixed", "Average")], abs=1e-12)
    tex = (report.out / "results.tex").read_text()
    assert "\\begin{tabular}" in tex and "tur vs mixed (dB)" in tex and "Protocol 'mioir'" in tex


def test_degraded_input_row_recomputed_with_scikit_image(report_json):
    row = next(r for r in report_json["rows"] if r["label"] == "degraded input")
    for task in TASKS:
        expected = np.mean([_psnr(s.lq, s.gt) for s in _test_set() if s.task == task])
        assert row["scores"][task]["psnr"]["mean"] == pytest.approx(expected, abs=1e-9), task


def test_grid_captions_are_scikit_image_psnr_of_each_runs_restoration(bench_dir, report,
                                                                      report_json):
    from aioir.inference.reader import load_network
    from aioir.models.restore import restore_image

    data = _figure(report_json, "restorations")["data"]
    test = _test_set()
    firsts = [test.for_task(t)[i % len(test.for_task(t))] for i, t in enumerate(TASKS)]
    assert [(i["task"], i["name"]) for i in data["images"]] == [(s.task, s.name) for s in firsts]
    assert data["input_psnr"] == pytest.approx([_psnr(s.lq, s.gt) for s in firsts], abs=1e-9)
    table = (report.out / "report.md").read_text()
    for strategy in ("mixed", "tur"):
        ckpt = sorted((bench_dir / strategy / "seed0" / "checkpoints").glob("step_*.pt"))[-1]
        net, _ = load_network(ckpt, use_ema=True)  # the runs evaluate their EMA weights
        expected = [_psnr(restore_image(net, s.lq), s.gt) for s in firsts]
        assert data["psnr"][strategy] == pytest.approx(expected, abs=1e-9), strategy
        assert f"{expected[0]:.2f}" in table


def test_uncertainty_statistics_match_the_head_rerun_by_hand(bench_dir, report_json):
    ckpt = sorted((bench_dir / "tur" / "seed0" / "checkpoints").glob("step_*.pt"))[-1]
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    net = models.build("tiny_unet", width=8)
    net.load_state_dict(state["model"])  # live weights: the head was trained on them
    head = UncertaintyHead(net.uem_channels)
    head.load_state_dict({k[4:]: v for k, v in state["strategy"].items() if k.startswith("uem.")})
    taps = []
    net.get_submodule(net.uem_tap).register_forward_hook(lambda m, i, o: taps.append(o))
    values = {t: [] for t in TASKS}
    with torch.no_grad():
        for s in _test_set():
            x = torch.from_numpy(np.array(s.lq)).permute(2, 0, 1)[None]
            net(x)
            u = head(taps.pop())[..., : x.shape[-2], : x.shape[-1]].mean(1)
            # the report leaves out the 3 px the head's three 3x3 zero-padded convs make up
            values[s.task].append(u[..., 3:-3, 3:-3].numpy().ravel())
    stats = _figure(report_json, "uncertainty_histograms")["data"]["tur"]
    assert set(stats) == set(TASKS)
    for task in TASKS:
        v = np.concatenate(values[task]).astype(np.float64)
        assert stats[task]["pixels"] == v.size
        assert stats[task]["mean"] == pytest.approx(float(v.mean()), rel=1e-5)
        assert stats[task]["median"] == pytest.approx(float(np.median(v)), rel=1e-5)


def test_every_figure_is_drawn_and_embedded_in_a_self_contained_page(report, report_json):
    figures = report_json["figures"]
    assert {f["id"] for f in figures} >= {
        "train_task_loss", "train_task_weight", "train_uncertainty", "learning_rate",
        "validation_psnr", "restorations", "restoration_crops", "uncertainty_maps",
        "uncertainty_histograms"}
    assert [f["id"] for f in figures if f["skipped"]] == []
    page = (report.out / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(figures)
    for src, fig in zip(sources, figures):
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        assert base64.b64decode(src[len(prefix):]) == (report.out / fig["file"]).read_bytes()
    # nothing to fetch: no external address, no linked file, no script
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    manifest = json.loads((report.out / MANIFEST).read_text())
    written = sorted(p.relative_to(report.out).as_posix() for p in report.out.rglob("*")
                     if p.is_file() and p.name != MANIFEST)
    assert manifest["files"] == written


def test_without_matplotlib_the_tables_are_written_and_the_skip_is_explained(
        bench_dir, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    result = make_report([bench_dir / "mixed"], tmp_path / "r")
    assert result.drawn == []
    assert len(result.skipped) == 1 and "pip install -e ." in result.skipped[0].skipped
    md = (tmp_path / "r" / "report.md").read_text()
    assert "## Figures not drawn" in md and "pip install -e ." in md and "| mixed " in md
    assert (tmp_path / "r" / "results.csv").is_file() and not (tmp_path / "r" / "figures").exists()


def test_refuses_a_folder_holding_other_files_and_replaces_its_own_report(bench_dir, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"refusing .* notes.txt"):
        make_report([bench_dir / "mixed"], out, figures=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # nothing left behind
    assert (out / "notes.txt").read_text() == "mine"

    mine = tmp_path / "mine"
    make_report([bench_dir / "tur"], mine, baseline="tur")
    assert (mine / "figures" / "uncertainty_maps.png").is_file()
    make_report([bench_dir / "mixed"], mine, figures=False)  # its own folder: replaced whole
    assert not (mine / "figures").exists()
    assert "| mixed " in (mine / "report.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "r"]


def test_baseline_must_name_a_row(bench_dir, tmp_path):
    with pytest.raises(ValueError, match="'art' is not a row of this report; rows: 'mixed'"):
        make_report([bench_dir / "mixed"], tmp_path / "r", baseline="art", figures=False)


def test_default_out_is_inside_a_single_folder():
    assert default_out(["runs/x"]) == Path("runs/x/report")
    with pytest.raises(ValueError, match="--out"):
        default_out(["a", "b"])


def test_a_run_whose_images_cannot_be_rebuilt_still_gets_its_tables(bench_dir, tmp_path):
    import shutil

    run = tmp_path / "runs" / "moved"
    shutil.copytree(bench_dir / "mixed" / "seed0", run)
    cfg = (run / "config.yaml").read_text()
    gone = tmp_path / "gone" / "my_setting.yaml"  # the run's setting file, moved away since
    (run / "config.yaml").write_text(cfg.replace("setting: embedded\n", f"setting: {gone}\n"))
    result = make_report([run], tmp_path / "r")
    skipped = {f.id: f.skipped for f in result.skipped}
    assert "cannot rebuild the validation images" in skipped["restorations"]
    assert str(gone) in skipped["restorations"]
    assert "train_task_loss" in {f.id for f in result.drawn}
    assert "| mixed " in (tmp_path / "r" / "report.md").read_text()
