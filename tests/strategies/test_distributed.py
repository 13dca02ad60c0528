"""Every strategy on 2 gloo ranks (torchrun) against one process on the same global batch.

One torchrun launch trains every registered strategy for 3 steps on 2 ranks and, on rank 0, in
one process (``tests/strategies/ddp_strategies_probe.py``). Checked per strategy: the logged
per-task losses and weights (global quantities) agree, the final weights agree, and the strategy
state is bit-identical on both ranks and equal to the one-process state.

Tolerance: the same mathematical update, but rank gradients are summed by an all-reduce where one
process sums the whole batch in one reduction; float32 addition is not associative (~1e-7
relative per step), which Adam can amplify for near-zero gradients: 1e-4 absolute on weights,
1e-5 relative on logged values, 1e-5 relative on float states.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aioir import strategies

PROBE = Path(__file__).with_name("ddp_strategies_probe.py")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("ddp")
    out = tmp / "results.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", str(PROBE), str(tmp / "runs"), str(out), *strategies.names()]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return torch.load(out, weights_only=False)


@pytest.mark.parametrize("name", strategies.names())
def test_two_ranks_match_one_process(results: dict, name: str) -> None:
    r = results[name]
    one, two = r["one_log"], r["two_log"]
    assert one.keys() == two.keys() == {1, 2, 3}
    for step in one:
        (t1, w1), (t2, w2) = one[step], two[step]
        assert t1.keys() == t2.keys()
        for k in t1:
            assert t2[k] == pytest.approx(t1[k], rel=1e-5), (step, k)
            assert w2[k] == pytest.approx(w1[k], rel=1e-5, abs=1e-7), (step, k)
    for k in r["one_model"]:
        assert torch.allclose(r["one_model"][k], r["two_model"][k], atol=1e-4, rtol=0), k
    rank0, rank1 = r["two_states"]
    for k in rank0:  # identical on every rank, bit for bit
        assert torch.equal(rank0[k], rank1[k]), k
        a, b = r["one_state"][k], rank0[k]
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), k
        else:
            assert torch.equal(a, b), k
