"""Exact resume on CPU: interrupted + resumed == uninterrupted, bit for bit, for every strategy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from aioir import strategies
from aioir.checkpoint import latest_checkpoint, load_checkpoint
from aioir.config import dump_yaml
from aioir.engine.build import build_run
from aioir.engine.trainer import Trainer


def _assert_states_equal(a: dict, b: dict, where: str = "") -> None:
    assert a.keys() == b.keys(), where
    for k in a:
        va, vb = a[k], b[k]
        if isinstance(va, torch.Tensor):
            assert torch.equal(va, vb), f"{where}.{k} differs"
        elif isinstance(va, dict):
            _assert_states_equal(va, vb, f"{where}.{k}")
        elif isinstance(va, (list, tuple)):
            assert len(va) == len(vb), f"{where}.{k}"
            for i, (x, y) in enumerate(zip(va, vb)):
                if isinstance(x, dict):
                    _assert_states_equal(x, y, f"{where}.{k}[{i}]")
                elif isinstance(x, torch.Tensor):
                    assert torch.equal(x, y), f"{where}.{k}[{i}]"
                else:
                    assert x == y, f"{where}.{k}[{i}]"
        else:
            assert va == vb, f"{where}.{k}: {va} != {vb}"


def _final_state(run_dir) -> dict:
    state = load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))
    state.pop("rng")
    return state


@pytest.mark.parametrize("strategy", strategies.names())
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, make_config, strategy):
    cfg = make_config(strategy, steps=6)
    Trainer(build_run(cfg), tmp_path / "full").fit()

    trainer = Trainer(build_run(cfg), tmp_path / "cut")

    def interrupt(step: int) -> None:
        if step == 3:  # between checkpoints (every 2): SIGINT path writes its own
            os.kill(os.getpid(), signal.SIGINT)

    res = trainer.fit(on_step=interrupt)
    assert res.status == "interrupted" and res.step == 3
    resumed = Trainer(build_run(cfg), tmp_path / "cut", resume="auto")
    assert resumed.step == 3
    assert resumed.fit().step == 6

    _assert_states_equal(_final_state(tmp_path / "full"), _final_state(tmp_path / "cut"))


def test_fresh_run_refuses_a_folder_with_checkpoints(tmp_path, make_config):
    cfg = make_config("mixed", steps=2)
    Trainer(build_run(cfg), tmp_path / "r").fit()
    with pytest.raises(ValueError, match="--resume auto"):
        Trainer(build_run(cfg), tmp_path / "r")


def test_sigkill_loses_at_most_the_steps_since_the_last_checkpoint(tmp_path, make_config):
    """A hard kill mid-run, then --resume auto: same final weights as an uninterrupted run."""
    cfg = make_config("art", steps=40, checkpoint_every=5)
    cfg_path = tmp_path / "cfg.yaml"
    dump_yaml(cfg, cfg_path)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "aioir", "train", str(cfg_path)]
    ref = subprocess.run(cmd + ["--out", str(tmp_path / "ref")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr

    proc = subprocess.Popen(cmd + ["--out", str(tmp_path / "kill")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck_dir = tmp_path / "kill" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline:
        cp = latest_checkpoint(ck_dir)
        if cp is not None and int(cp.stem.split("_")[1]) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = int(latest_checkpoint(ck_dir).stem.split("_")[1])
    assert 10 <= killed_at < 40, "the run finished before it could be killed"
    res = subprocess.run(cmd + ["--out", str(tmp_path / "kill"), "--resume", "auto"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    _assert_states_equal(_final_state(tmp_path / "ref"), _final_state(tmp_path / "kill"))
    # the metrics log holds every logged step exactly once after the restart
    import json

    steps = [json.loads(line)["step"] for line in (tmp_path / "kill" / "metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == sorted(set(steps)) and steps[-1] == 40


def _stochastic_backbones() -> list[str]:
    """Every registered backbone whose factory takes a dropout / drop-path option."""
    import inspect

    from aioir import models

    return [n for n in models.names()
            if any("drop" in p for p in inspect.signature(models.MODELS.get(n)).parameters)]


@pytest.mark.parametrize("name", _stochastic_backbones())
def test_resume_is_exact_with_dropout_and_drop_path(tmp_path, make_config, name):
    """With every drop* option at 0.5 the forward pass draws from torch's global generator;
    a run resumed at step 2 must still equal the uninterrupted run (the DataLoader must not
    draw from that generator when it is created after the resume)."""
    import inspect

    from aioir import models

    cfg = make_config("mixed", steps=4, checkpoint_every=2)
    drops = {p: 0.5 for p in inspect.signature(models.MODELS.get(name)).parameters if "drop" in p}
    cfg.model.name, cfg.model.options = name, {**models.reduced_options(name), **drops}
    cfg.data.patch_size, cfg.data.batch_size = 16, 2
    net = models.build(name, **cfg.model.options).train()
    with torch.no_grad():  # some branches start at zero scale (NAFNet): wake every weight up
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.rand(4, 3, 16, 16)
    outs = [net(x) for _ in range(3)]
    assert not all(torch.equal(outs[0], o) for o in outs), "no layer became stochastic"
    Trainer(build_run(cfg), tmp_path / "full").fit()
    res = Trainer(build_run(cfg), tmp_path / "cut").fit(
        on_step=lambda s: os.kill(os.getpid(), signal.SIGINT) if s == 2 else None)
    assert res.status == "interrupted" and res.step == 2
    assert Trainer(build_run(cfg), tmp_path / "cut", resume="auto").fit().step == 4
    _assert_states_equal(_final_state(tmp_path / "full"), _final_state(tmp_path / "cut"))
