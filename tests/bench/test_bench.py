"""A tiny bench end to end: the table against numbers recomputed here from the cells' own
evaluation files, resuming (finished cells are not retrained; an interrupted one continues from
its checkpoint and ends where an uninterrupted run ended), growing a bench by a strategy (only
its cells train), and the refusal of a spec that would change a cell."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aioir.bench import run_bench
from aioir.bench.spec import cells
from aioir.cli import main


def _eval(run_dir, steps=6):
    return json.loads((run_dir / "eval" / f"step_{steps:08d}.json").read_text())


def _stamp(out, cell):
    run = out / cell.run_dir
    return [(run / "checkpoints" / "step_00000006.pt").stat().st_mtime_ns,
            (run / "eval" / "step_00000006.json").stat().st_mtime_ns]


@pytest.mark.timeout(240)
def test_tiny_bench_table_resume_and_refusal(tmp_path, capsys, tiny_spec):
    spec = tiny_spec()
    tasks = spec.base["data"]["tasks"]
    out = tmp_path / "bench"
    first = run_bench(spec, out, jobs=2, progress=False)
    assert first.status == "finished", first.errors
    assert sorted(first.trained) == sorted(c.name for c in cells(spec)) and first.reused == []

    # -- the table, recomputed from the cells' evaluation files with numpy
    table = first.tables[6]
    for strategy in spec.strategies:
        for metric in ("psnr", "ssim"):
            per_seed = {t: [] for t in tasks}
            for seed in spec.seeds:
                recs = _eval(out / f"runs/steps_00000006/seed_{seed}/{strategy}")["records"]
                for t in tasks:
                    per_seed[t].append(np.mean([r[metric] for r in recs if r["task"] == t]))
            avg = np.mean([per_seed[t] for t in tasks], axis=0)
            for column, values in [*per_seed.items(), ("average", avg)]:
                got = table["scores"][strategy][metric][column]
                assert got["mean"] == pytest.approx(np.mean(values), abs=1e-9)
                assert got["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-9)
    # paired difference: mean over seeds and images of art - mixed, per task
    for t in tasks:
        diffs = []
        for seed in spec.seeds:
            a = {r["name"]: r["psnr"] for r in
                 _eval(out / f"runs/steps_00000006/seed_{seed}/art")["records"] if r["task"] == t}
            m = {r["name"]: r["psnr"] for r in
                 _eval(out / f"runs/steps_00000006/seed_{seed}/mixed")["records"] if r["task"] == t}
            diffs += [a[k] - m[k] for k in a]
        d = table["differences"]["art"]["psnr"][t]
        assert d["estimate"] == pytest.approx(np.mean(diffs), abs=1e-9)
        assert d["lo"] <= d["estimate"] <= d["hi"]
    # the trained networks moved away from the identity (the table compares real restorations)
    assert any(table["scores"]["mixed"]["psnr"][t]["mean"] != table["input"]["psnr"][t]
               for t in tasks)
    md = (out / "results.md").read_text()
    assert "| art - mixed    | PSNR " in md and "## 6 steps" in md
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("steps,row,kind,metric,column,value,std,lo,hi")
    assert len(csv_lines) == 1 + 2 * 3 * (len(tasks) + 1) + 2 * (len(tasks) + 1)
    assert json.loads((out / "results.json").read_text())["spec"]["seeds"] == [0, 1]

    # -- `aioir report` on the bench folder shows the same paired intervals (one summary module)
    from aioir.report.build import make_report

    rep = make_report([out / "runs"], tmp_path / "report", figures=False, cost=False)
    shown = json.loads((rep.out / "report.json").read_text())["paired_differences"]["art"]
    for t in tasks:
        got, want = shown[t], table["differences"]["art"]["psnr"][t]
        assert (got["estimate"], got["lo"], got["hi"]) == \
            (want["estimate"], want["lo"], want["hi"])
    assert "art vs mixed" in (rep.out / "report.md").read_text()

    # -- resume: interrupt one cell after its step-3 checkpoint; the others are finished
    cut, *kept = [c for c in cells(spec) if c.name == "art-seed1-steps6"] + \
        [c for c in cells(spec) if c.name != "art-seed1-steps6"]
    before = {c: _stamp(out, c) for c in kept}
    old_records = _eval(out / cut.run_dir)["records"]
    (out / cut.run_dir / "checkpoints" / "step_00000006.pt").unlink()
    (out / cut.run_dir / "eval" / "step_00000006.json").unlink()
    second = run_bench(spec, out, jobs=1, progress=False)
    assert second.status == "finished", second.errors
    assert second.trained == [cut.name]
    assert sorted(second.reused) == sorted(c.name for c in kept)
    assert {c: _stamp(out, c) for c in kept} == before  # not retrained, not rewritten
    assert "resumed from" in (out / cut.run_dir / "train.log").read_text()
    new_records = _eval(out / cut.run_dir)["records"]
    assert [(r["name"], r["psnr"]) for r in new_records] == \
        [(r["name"], r["psnr"]) for r in old_records]  # resumed run ends where it ended before
    assert second.tables[6]["differences"] == table["differences"]

    # -- a larger bench into the same folder trains only its new cells
    grown = run_bench(tiny_spec(strategies=["mixed", "art", "uw"]), out, jobs=2, progress=False)
    assert grown.status == "finished", grown.errors
    assert sorted(grown.trained) == ["uw-seed0-steps6", "uw-seed1-steps6"]
    assert {c: _stamp(out, c) for c in kept} == before
    assert grown.tables[6]["differences"]["art"] == table["differences"]["art"]
    assert json.loads((out / "bench.json").read_text())["spec"]["strategies"] == \
        ["mixed", "art", "uw"]

    # -- a spec that would change a cell is refused, naming what differs
    with pytest.raises(ValueError, match=r"another spec \(threads: 1 -> 2"):
        run_bench(tiny_spec(threads=2), out, jobs=1, progress=False)
    changed = r"another spec .*strategy_options.art.tau: \(absent\) -> 1"
    with pytest.raises(ValueError, match=changed):
        run_bench(tiny_spec(strategy_options={"art": {"tau": 1}}), out, jobs=1, progress=False)
    assert main(["bench", "demo:quick", "--strategies", "mixed,art", "--seeds", "2",
                 "--steps", "6", "--out", str(out)]) == 2
    assert "holds a bench with another spec" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds no bench.json"):
        run_bench(spec, tmp_path / "other", jobs=1, progress=False)


def test_spec_errors_are_clear(tmp_path, tiny_spec):
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        run_bench(tiny_spec(strategies=["mixed", "nope"]), tmp_path / "a")
    with pytest.raises(ValueError, match="baseline 'tur' is not among"):
        run_bench(tiny_spec(baseline="tur"), tmp_path / "a")
    with pytest.raises(ValueError, match="strategy 'art' options"):
        run_bench(tiny_spec(strategy_options={"art": {"temperature": 3}}), tmp_path / "a")
    with pytest.raises(ValueError, match="seed listed twice: 1"):
        run_bench(tiny_spec(seeds=[1, 1]), tmp_path / "a")
    assert not (tmp_path / "a").exists()
