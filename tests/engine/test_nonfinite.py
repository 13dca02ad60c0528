"""Non-finite losses: the step is skipped (weights untouched), logged, and the run stops after
``max_nonfinite`` in a row."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from aioir.engine.build import build_run
from aioir.engine.trainer import NonFiniteLossError, Trainer


class _PoisonOn:
    """Wraps the training module: its loss is NaN on the given (1-based) calls."""

    def __init__(self, module, bad_calls):
        self.module, self.bad, self.calls = module, set(bad_calls), 0

    def __call__(self, batch, restore=True):
        self.calls += 1
        out, aux = self.module(batch, restore)
        if self.calls in self.bad:
            out.loss = out.loss * float("nan")
        return out, aux


def test_nan_step_is_skipped_and_logged(tmp_path, make_config, caplog):
    cfg = make_config("art", steps=4, max_nonfinite=3)
    tr = Trainer(build_run(cfg), tmp_path)
    tr.train_module = _PoisonOn(tr.module, {2})
    before = {}

    def snapshot(step):
        if step == 1:
            before.update({k: v.clone() for k, v in tr.model.state_dict().items()})
            before["art_ema"] = tr.strategy.ema.clone()
        if step == 2:  # the poisoned step changed nothing
            for k, v in tr.model.state_dict().items():
                assert torch.equal(v, before[k]), k
            assert torch.equal(tr.strategy.ema, before["art_ema"])

    with caplog.at_level(logging.WARNING, logger="aioir"):
        res = tr.fit(on_step=snapshot)
    assert res.status == "finished" and res.skipped_steps == 1
    assert any("non-finite loss" in r.message for r in caplog.records)
    recs = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["stepped"] for r in recs if "stepped" in r] == [True, False, True, True]


def test_too_many_nonfinite_in_a_row_stops(tmp_path, make_config):
    cfg = make_config("mixed", steps=10, max_nonfinite=3)
    tr = Trainer(build_run(cfg), tmp_path)
    tr.train_module = _PoisonOn(tr.module, {3, 4, 5})
    with pytest.raises(NonFiniteLossError, match="3 non-finite losses in a row at step 5"):
        tr.fit()
