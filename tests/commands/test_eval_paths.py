"""Names that become file names never lead outside the output folder: a setting YAML whose
``name`` (or a test group) is ``x/../../..`` makes ``aioir eval`` write inside ``--out`` only."""

from __future__ import annotations

import json

import numpy as np

from aioir.cli import main
from aioir.data.io import write_image
from aioir.engine.run import train

SETTING = """\
name: {name}
tasks: [noise]
protocol: mioir
train:
  - {{task: noise, kind: synthetic, clean: "embedded:train"}}
test:
  - {{task: noise, kind: synthetic, clean: clean, seed: 1}}
  - {{task: noise, kind: synthetic, clean: clean, seed: 2, column: noise_b, group: "{group}"}}
"""


def test_a_setting_name_with_dot_dot_stays_inside_out(tmp_path, make_config, capsys):
    cfg = make_config("mixed", steps=1, checkpoint_every=1)
    cfg.data.patch_size = 16
    train(cfg, tmp_path / "run")
    setting = tmp_path / "evil.yaml"
    setting.write_text(SETTING.format(name="x/../../..", group="../../../g"))
    write_image(tmp_path / "clean" / "a.png", np.random.default_rng(0).random((24, 24, 3)))
    out = tmp_path / "a" / "b" / "out"
    before = set(tmp_path.rglob("*"))

    rc = main(["eval", str(tmp_path / "run" / "checkpoints" / "step_00000001.pt"),
               "--setting", str(setting), "--root", str(tmp_path), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    new = sorted(p for p in tmp_path.rglob("*") if p not in before and p.is_file())
    assert new, "eval wrote nothing"
    outside = [str(p) for p in new if out not in p.parents]
    assert not outside, outside
    assert all(p.parent == out for p in new), new  # flat: no sub-folders from the names
    main_json = json.loads(next(p for p in new if p.suffix == ".json"
                                and "_g" not in p.name).read_text())
    assert main_json["setting"] == "x/../../.."  # the name itself is kept in the results
