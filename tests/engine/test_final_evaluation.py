"""The evaluation at the end of training measures ``val.final_groups``; the periodic one only
``val.groups`` (the demo's whole photographs cost nothing during training)."""

from __future__ import annotations

import json
from pathlib import Path

from aioir.config.schema import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    ValConfig,
)
from aioir.engine.run import train


def test_only_the_final_evaluation_measures_the_final_groups(tmp_path: Path):
    cfg = RunConfig(
        name="final",
        model=ModelConfig(name="tiny_unet", options={"width": 4}),
        data=DataConfig(tasks=["noise", "dark"], patch_size=16, batch_size=2),
        optim=OptimConfig(lr=1e-3),
        train=TrainConfig(steps=2, seed=0, device="cpu", threads=1, progress=False,
                          log_every=1, checkpoint_every=2),
        val=ValConfig(every=1, max_size=24, final_groups=["main", "whole"],
                      group_max_size={"whole": 32}),
    )
    evaluated: list[int] = []
    result = train(cfg, tmp_path / "run", on_eval=evaluated.append)
    assert result.status == "finished"
    periodic = json.loads((tmp_path / "run" / "eval" / "step_00000001.json").read_text())
    final = json.loads((tmp_path / "run" / "eval" / "step_00000002.json").read_text())
    # 3 held-out photographs x 2 tasks in each group
    assert periodic["group"] == "main" and "groups" not in periodic
    assert len(periodic["records"]) == 6
    assert final["group"] == "main" and list(final["groups"]) == ["whole"]
    whole = final["groups"]["whole"]
    assert len(final["records"]) == len(whole["records"]) == 6
    assert {r["task"] for r in whole["records"]} == {"noise", "dark"}
    assert sum(evaluated) == 6 + 12  # the periodic validation's images, then the final's
