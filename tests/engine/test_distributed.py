"""Data-parallel training on 2 CPU ranks (gloo, launched by torchrun) against one process.

Tolerance: the 2-rank run computes the same mathematical update on the same global batch, but
DDP all-reduces (sums) the two ranks' gradients where one process sums the whole batch in one
reduction; float32 addition is not associative, so weights differ by rounding (~1e-7 relative
per step), which Adam's normalisation can amplify for near-zero gradients. Over the few steps
run here we allow 1e-4 absolute on weights and 1e-5 relative on logged losses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aioir.checkpoint import latest_checkpoint, load_checkpoint
from aioir.config import dump_yaml

PROBE = Path(__file__).with_name("ddp_probe.py")


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def _torchrun(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           *args]
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def _losses(run_dir: Path) -> dict[int, float]:
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "loss" in rec:
            out[rec["step"]] = rec["loss"], rec["task_loss"], rec["task_weight"]
    return out


@pytest.mark.parametrize("strategy", ["mixed", "art"])
def test_two_ranks_match_one_process(tmp_path, make_config, strategy):
    cfg = make_config(strategy, steps=5, checkpoint_every=5)
    cfg.data.batch_size = 8
    path = tmp_path / "cfg.yaml"
    dump_yaml(cfg, path)
    single = subprocess.run([sys.executable, "-m", "aioir", "train", str(path), "--out",
                             str(tmp_path / "one")], env=_env(), capture_output=True, text=True,
                            timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    _torchrun(["-m", "aioir", "train", str(path), "--out", str(tmp_path / "two")])

    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert one.keys() == two.keys() == set(range(1, 6))
    for step in one:
        (_l1, t1, w1), (_l2, t2, w2) = one[step], two[step]
        assert t1.keys() == t2.keys()
        for k in t1:  # per-task losses and weights are global (all-reduced) quantities
            assert t2[k] == pytest.approx(t1[k], rel=1e-5), (step, k)
            assert w2[k] == pytest.approx(w1[k], rel=1e-5), (step, k)
    a = load_checkpoint(latest_checkpoint(tmp_path / "one" / "checkpoints"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "two" / "checkpoints"))
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-4, rtol=0), k
    for k in a["strategy"]:
        assert torch.allclose(a["strategy"][k], b["strategy"][k], rtol=1e-5), k


def test_strategy_state_identical_on_every_rank_and_resume(tmp_path, make_config):
    cfg = make_config("art", steps=6, checkpoint_every=2)
    cfg.data.batch_size = 6
    path = tmp_path / "cfg.yaml"
    dump_yaml(cfg, path)
    full = tmp_path / "full.pt"
    _torchrun([str(PROBE), str(path), str(tmp_path / "full"), str(full)])
    ranks = torch.load(full, weights_only=True)
    assert [r["step"] for r in ranks] == [6, 6]
    for k in ranks[0]["strategy"]:  # Art's EMA and minimum: bit-identical across ranks
        assert torch.equal(ranks[0]["strategy"][k], ranks[1]["strategy"][k]), k
    for k in ranks[0]["model"]:  # DDP keeps the replicas identical
        assert torch.equal(ranks[0]["model"][k], ranks[1]["model"][k]), k

    # interrupt rank 1 only at step 3: both ranks must stop together and checkpoint step 3
    cut = tmp_path / "cut.pt"
    _torchrun([str(PROBE), str(path), str(tmp_path / "cut"), str(cut), "--interrupt-at", "3"])
    stopped = torch.load(cut, weights_only=True)
    assert [r["status"] for r in stopped] == ["interrupted", "interrupted"]
    assert [r["step"] for r in stopped] == [3, 3]
    _torchrun([str(PROBE), str(path), str(tmp_path / "cut"), str(cut), "--resume"])
    resumed = torch.load(cut, weights_only=True)
    for r in range(2):  # the resumed 2-rank run ends bit-identical to the uninterrupted one
        for part in ("strategy", "model"):
            for k in ranks[r][part]:
                assert torch.equal(ranks[r][part][k], resumed[r][part][k]), (r, part, k)
