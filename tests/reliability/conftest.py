"""Shared pieces of the reliability scenarios: one tiny run config (tiny_unet width 8, 16 px
patches, 8 steps, a checkpoint every 2), its uninterrupted reference, and a child process that
stops at a chosen point of ``aioir train`` so the test can SIGKILL it there (``child.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import aioir
from aioir.checkpoint import latest_checkpoint, load_checkpoint
from aioir.config import dump_yaml
from aioir.config.schema import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    StrategyConfig,
    TrainConfig,
    ValConfig,
)

CHILD = Path(__file__).with_name("child.py")
STEPS = 8


def reliability_config(steps: int = STEPS) -> RunConfig:
    """Art (it keeps a state of its own) on tiny_unet width 8, 3 tasks, 16 px patches."""
    return RunConfig(
        name="reliability",
        model=ModelConfig(name="tiny_unet", options={"width": 8}),
        strategy=StrategyConfig(name="art", options={"tau": 3.0}),
        data=DataConfig(setting="embedded", tasks=["noise", "dark", "jpeg"], patch_size=16,
                        batch_size=4),
        optim=OptimConfig(lr=1e-3),
        train=TrainConfig(steps=steps, seed=5, device="cpu", ema_decay=0.9, log_every=1,
                          checkpoint_every=2, threads=1, progress=False, grad_clip=1.0),
        val=ValConfig(enabled=False),
    )


def final_state(run_dir: Path) -> dict:
    """The last checkpoint of a run folder."""
    return load_checkpoint(latest_checkpoint(Path(run_dir) / "checkpoints"))


def assert_same_state(a, b, where: str = "checkpoint") -> None:
    """Bit-identical nested checkpoint contents."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys differ"
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def stray_files(run_dir: Path) -> list[str]:
    """Files no finished run should hold: temporaries and lock files."""
    return sorted(p.relative_to(run_dir).as_posix() for p in Path(run_dir).rglob("*")
                  if p.name.endswith(".tmp") or p.name.endswith(".lock"))


@dataclass
class Reference:
    """The uninterrupted run everything is compared with."""

    cfg: RunConfig
    cfg_path: Path
    run_dir: Path
    state: dict


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> Reference:
    from aioir.engine.run import train

    root = tmp_path_factory.mktemp("reliability")
    cfg = reliability_config()
    cfg_path = root / "cfg.yaml"
    dump_yaml(cfg, cfg_path)
    run_dir = root / "reference"
    res = train(cfg, run_dir)
    assert res.status == "finished" and res.step == STEPS
    return Reference(cfg, cfg_path, run_dir, final_state(run_dir))


def child_env() -> dict[str, str]:
    src = str(Path(aioir.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, OMP_NUM_THREADS="1",
                PYTHONPATH=src + (os.pathsep + path if path else ""))


class Child:
    """``aioir train`` in a child process that stops where ``mode`` says (see child.py)."""

    def __init__(self, tmp_path: Path, mode: str, arg: str, argv: list[str]) -> None:
        self.ready = tmp_path / f"ready-{time.monotonic_ns()}"
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(self.ready), mode, arg, "--", *argv],
            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_ready(self, timeout: float = 180.0) -> str:
        """What the child did when it stopped; fails if it exited first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready.exists() and self.ready.read_text():
                return self.ready.read_text()
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"child exited ({self.proc.returncode}) before its stop "
                                     f"point:\n{out}\n{err}")
            time.sleep(0.02)
        self.kill()
        raise AssertionError("child never reached its stop point")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate()

    def finish(self, timeout: float = 180.0) -> subprocess.CompletedProcess:
        out, err = self.proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)
