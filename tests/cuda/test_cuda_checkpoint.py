"""Checkpoints across devices, a one-rank DDP run, tiled restoration and ONNX export.

Every body runs on ``cpu`` here and on ``cuda`` where a GPU is visible (``pytest -m cuda``).
Tolerances: a run continued on another device computes the same updates with other kernels
(other summation orders; TF32 is off by default for convolutions' fp32 on Hopper only where
torch says so): 1e-4 absolute on weights of order 0.1 after 2 more steps. Tiled restoration on
the GPU against the same tiles on the CPU: 1e-4 on outputs in [0, 1] (0.026 of an 8-bit level),
the tolerance of the export check.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cuda_devices import DEVICES, cuda_param

from aioir.checkpoint import latest_checkpoint, load_checkpoint
from aioir.config import dump_yaml
from aioir.engine.build import build_run
from aioir.engine.trainer import Trainer

HERE = Path(__file__).parent


def _final(run_dir: Path) -> dict:
    return load_checkpoint(latest_checkpoint(run_dir / "checkpoints"))


def _close(a: dict, b: dict, atol: float) -> None:
    for k in a:
        assert torch.allclose(a[k].float().cpu(), b[k].float().cpu(), atol=atol, rtol=0), k


@pytest.mark.parametrize("first,second", [
    pytest.param("cpu", "cpu", id="cpu-cpu"),
    cuda_param("cuda", "cpu", id="cuda-cpu"),
    cuda_param("cpu", "cuda", id="cpu-cuda"),
])
def test_checkpoint_written_on_one_device_resumes_on_the_other(tmp_path, make_config, first,
                                                                  second):
    """TUR (a strategy with its own head and optimizer state): a 4-step run cut at step 2 on
    ``first``, resumed on ``second`` == 4 steps on ``second``."""
    Trainer(build_run(make_config("tur", steps=4, device=second)), tmp_path / "ref").fit()

    def interrupt(step: int) -> None:
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    cut = Trainer(build_run(make_config("tur", steps=4, device=first)), tmp_path / "run")
    assert cut.fit(on_step=interrupt).status == "interrupted"
    ckpt = latest_checkpoint(tmp_path / "run" / "checkpoints")
    for t in load_checkpoint(ckpt)["model"].values():
        assert t.device.type == "cpu"  # a checkpoint loads on any machine
    # train.device is an execution key: resumed with a warning, no --allow-changes
    tr = Trainer(build_run(make_config("tur", steps=4, device=second)), tmp_path / "run",
                 resume="auto")
    assert tr.step == 2
    for state in tr.optimizer.state.values():  # Adam's moments moved to the new device
        for v in state.values():
            if isinstance(v, torch.Tensor) and v.dim():
                assert v.device.type == second
    tr.fit()
    ref, got = _final(tmp_path / "ref"), _final(tmp_path / "run")
    for part in ("model", "ema", "strategy"):
        _close(ref[part], got[part], atol=1e-4)


@pytest.mark.timeout(900)  # a child process that imports torch: slow on a loaded CI machine
@pytest.mark.parametrize("device", DEVICES)
def test_one_rank_ddp_run_equals_one_process(tmp_path, make_config, device):
    """A real process group of one rank (NCCL on CUDA): DDP's all-reduce over one rank is the
    identity, so the weights equal a plain run's within rounding."""
    cfg = make_config("art", steps=2, device=device, checkpoint_every=2)
    Trainer(build_run(cfg), tmp_path / "one").fit()
    path = tmp_path / "cfg.yaml"
    dump_yaml(cfg, path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    res = subprocess.run([sys.executable, str(HERE / "ddp_one_rank.py"), str(path),
                          str(tmp_path / "ddp"), device, port], capture_output=True, text=True,
                         timeout=800)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "finished 2" in res.stdout
    a, b = _final(tmp_path / "one"), _final(tmp_path / "ddp")
    for part in ("model", "strategy"):
        _close(a[part], b[part], atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_tiled_restore_on_the_device_equals_the_cpu_result(tur_checkpoint, device):
    from aioir.inference.reader import load_network
    from aioir.inference.restore import Restorer
    from aioir.models.restore import restore_image

    net, _meta = load_network(tur_checkpoint)
    img = np.random.default_rng(0).random((90, 130, 3), dtype=np.float32)
    # the same tiles on both devices (this backbone's global tone makes tiles differ from the
    # whole image by design; the device must not)
    cpu = restore_image(net, img, device="cpu", tile=48, overlap=16)
    dev = restore_image(net, img, device=device, tile=48, overlap=16)
    assert np.abs(dev - cpu).max() <= 1e-4
    cpu = Restorer(net, device="cpu", tile=48).restore_array(img)
    dev = Restorer(net, device=device, tile=48).restore_array(img)
    assert np.abs(dev - cpu).max() <= 1e-4


@pytest.mark.parametrize("device", DEVICES)
def test_onnx_export_from_a_checkpoint_trained_on_the_device(tmp_path, make_config, device):
    pytest.importorskip("onnxruntime")
    from aioir.inference.export import export_checkpoint

    res = Trainer(build_run(make_config("mixed", steps=1, device=device)), tmp_path).fit()
    report = export_checkpoint(res.checkpoint, tmp_path / "net.onnx", fmt="onnx", check=True)
    assert report.path.is_file()
    assert report.check.differences and all(d <= 1e-4 for _, d in report.check.differences)
