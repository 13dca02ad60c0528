"""``aioir eval`` never replaces results: two runs' ``step_N.pt`` evaluated into one folder give
two result files, a second evaluation under the same name is refused unless ``--overwrite``, and
two test groups of a setting with a long name stay two files."""

from __future__ import annotations

import json
import shutil

import numpy as np

from aioir.cli import main
from aioir.data.io import write_image

SETTING = """\
name: {name}
tasks: [noise]
protocol: mioir
train:
  - {{task: noise, kind: synthetic, clean: "embedded:train"}}
test:
  - {{task: noise, kind: synthetic, clean: clean, seed: 1}}
  - {{task: noise, kind: synthetic, clean: clean, seed: 2, column: noise_b, group: ood}}
"""


def _two_runs(tmp_path, reference):
    """runA and runB, each with its own ``checkpoints/step_00000004.pt`` (other weights)."""
    ckpts = []
    for run, step in (("runA", 6), ("runB", 8)):
        (tmp_path / run / "checkpoints").mkdir(parents=True)
        ckpt = tmp_path / run / "checkpoints" / "step_00000004.pt"
        shutil.copy(reference.run_dir / "checkpoints" / f"step_{step:08d}.pt", ckpt)
        ckpts.append(ckpt)
    return ckpts


def test_eval_of_two_runs_into_one_folder_keeps_both(tmp_path, reference, capsys):
    a, b = _two_runs(tmp_path, reference)
    evo = tmp_path / "evo"
    assert main(["eval", str(a), "--out", str(evo), "--device", "cpu"]) == 0
    assert main(["eval", str(b), "--out", str(evo), "--device", "cpu"]) == 0
    capsys.readouterr()
    names = sorted(p.name for p in evo.iterdir())
    assert names == ["eval_runA_step_00000004.csv", "eval_runA_step_00000004.json",
                     "eval_runB_step_00000004.csv", "eval_runB_step_00000004.json"], names
    ra = json.loads((evo / "eval_runA_step_00000004.json").read_text())
    rb = json.loads((evo / "eval_runB_step_00000004.json").read_text())
    assert ra["average"]["psnr"] != rb["average"]["psnr"]  # two checkpoints, two results

    # the same evaluation again: refused before anything runs, the file untouched
    before = (evo / "eval_runA_step_00000004.json").read_bytes()
    assert main(["eval", str(a), "--out", str(evo), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"aioir eval: error: {evo / 'eval_runA_step_00000004.json'} already exists "
                   f"(an earlier evaluation); pass --overwrite to replace it, or choose another "
                   f"--out"), err
    assert (evo / "eval_runA_step_00000004.json").read_bytes() == before
    assert main(["eval", str(a), "--out", str(evo), "--device", "cpu", "--overwrite"]) == 0

    # inside the run's own folder the name stays the step's (what `aioir report` reads)
    assert main(["eval", str(a), "--device", "cpu"]) == 0
    assert (tmp_path / "runA" / "eval" / "eval_step_00000004.json").is_file()


def test_two_groups_of_a_long_setting_name_are_two_files(tmp_path, reference, capsys):
    a, _ = _two_runs(tmp_path, reference)
    setting = tmp_path / "long.yaml"
    setting.write_text(SETTING.format(name="s" * 200))
    write_image(tmp_path / "clean" / "a.png", np.random.default_rng(0).random((24, 24, 3)))
    out = tmp_path / "out"
    assert main(["eval", str(a), "--setting", str(setting), "--root", str(tmp_path),
                 "--out", str(out), "--device", "cpu"]) == 0, capsys.readouterr().err
    jsons = sorted(out.glob("*.json"))
    assert len(jsons) == 2, jsons
    groups = sorted(json.loads(p.read_text())["group"] for p in jsons)
    assert groups == ["main", "ood"]
    assert all(len(p.name) <= 130 for p in jsons)
