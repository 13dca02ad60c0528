"""The authors' released weights in every command, one test per release layout of docs/models.md:
a random small network (TEST_OPTIONS sizes) saved as the authors save it, then ``aioir restore``
(the output is the network's own, computed here directly), ``aioir eval`` on a generated
three-task tree, ``aioir export --check`` and the restore endpoint of ``aioir serve``
(in-process: the same service the HTTP route calls), each with the CLI entry and no Python
around it; then ``aioir import`` and ``aioir inspect``."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aioir import models
from aioir.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "settings"))
import trees


def _perturbed(name: str, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    net = models.build(name, **{**models.reduced_options(name), **extra})
    with torch.no_grad():  # off any identity start, so the output shows the weights were used
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def _bare(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


# name -> (backbone, extra build options, saver, file name, CLI arguments the file needs)
LAYOUTS = {
    "nafnet BasicSR params": (
        "nafnet", {}, lambda sd, p: torch.save({"params": sd}, p), "NAFNet-GoPro.pth", []),
    "promptir Lightning net.": (
        "promptir", {}, lambda sd, p: torch.save(
            {"state_dict": {"net." + k: v for k, v in sd.items()}, "epoch": 119,
             "global_step": 10, "pytorch-lightning_version": "2.0.0"}, p), "model.ckpt", []),
    "restormer BiasFree params": (
        "restormer", {"layernorm_type": "BiasFree"}, lambda sd, p: torch.save({"params": sd}, p),
        "real_denoising.pth", []),
    "airnet plain": ("airnet", {}, lambda sd, p: torch.save(sd, p), "All.pth", []),
    "transweather DataParallel module.": (
        "transweather", {}, lambda sd, p: torch.save({"module." + k: v for k, v in sd.items()}, p),
        "best", ["--option", "num_heads=[1, 2, 2, 2]", "--option", "dec_heads=2",
                 "--option", "min_size=128"]),
    "srresnet safetensors": (
        "srresnet", {}, lambda sd, p: __import__("safetensors.torch").torch.save_file(
            {k: v.contiguous() for k, v in sd.items()}, str(p)), "srresnet.safetensors", []),
}


def _expected(net: torch.nn.Module, a: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        y = net(torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None])
    return np.round(y.clamp(0, 1)[0].permute(1, 2, 0).double().numpy() * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def three_task_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("three_task")
    trees.three_task(root)
    return root


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_release_file_in_every_command(layout, tmp_path, three_task_root, monkeypatch,
                                         capsys):
    name, extra, save, filename, args = LAYOUTS[layout]
    net = _perturbed(name, **extra)
    weights = tmp_path / filename
    save(_bare(net), weights)
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)
    (tmp_path / "in").mkdir()
    Image.fromarray(photo).save(tmp_path / "in" / "photo.png")
    expected = _expected(net, photo)

    # restore: the architecture is detected (or read with --option), the output is the net's
    assert main(["restore", str(weights), str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                 "--device", "cpu", *args]) == 0
    err = capsys.readouterr().err
    assert f"detected as {name} from its keys" in err
    got = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1

    # eval on a setting's test sets: a table per group, the release's name as the row
    assert main(["eval", str(weights), "--setting", "three_task", "--root", str(three_task_root),
                 "--out", str(tmp_path / "eval"), "--device", "cpu", *args]) == 0
    result = json.loads((tmp_path / "eval" / f"eval_three_task_{weights.stem}.json").read_text())
    assert set(result["per_task"]) == {"denoise_15", "denoise_25", "denoise_50", "derain",
                                       "dehaze"}
    assert all(np.isfinite(v["psnr"]) for v in result["per_task"].values())

    # export with --check (the exported file run again and compared with PyTorch); ONNX for
    # the fastest network (every backbone's ONNX export is checked in tests/inference)
    fmt = ["--format", "onnx"] if name == "srresnet" else []
    if fmt:
        pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    target = tmp_path / ("net.onnx" if fmt else "net.safetensors")
    assert main(["export", str(weights), "--out", str(target), "--check", *fmt, *args]) == 0
    out = capsys.readouterr().out
    assert "detected as" in out and target.is_file()

    # serve: the service behind POST /api/restore, built by the command itself
    from aioir.inference import webapp

    built = {}
    monkeypatch.setattr(webapp, "create_app", lambda service: built.setdefault("s", service))
    monkeypatch.setattr(webapp, "listen", lambda host, port: None)  # no real port taken
    monkeypatch.setattr(webapp, "serve", lambda app, host, port, sock=None: None)
    assert main(["serve", str(weights), "--device", "cpu", *args]) == 0
    service = built["s"]
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "PNG")
    answer = service.restore("photo.png", buf.getvalue())
    assert service.info()["model"] == name and service.info()["weights"] == "release"
    png = service.results[answer["id"]][1]["restored"]
    served = np.asarray(Image.open(io.BytesIO(png)))
    assert np.array_equal(served, got)


def test_import_writes_a_self_describing_file_every_command_takes(tmp_path, capsys):
    import hashlib

    net = _perturbed("promptir")
    ckpt = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"net." + k: v for k, v in _bare(net).items()}}, ckpt)
    out = tmp_path / "promptir3.safetensors"
    assert main(["import", str(ckpt), "--model", "promptir", "--tasks", "denoise", "derain",
                 "dehaze", "--out", str(out)]) == 0
    assert main(["import", str(ckpt), "--out", str(out)]) == 2  # never replaced silently
    assert "already exists" in capsys.readouterr().err
    from aioir.inference.reader import load_network

    back, meta = load_network(out)
    assert meta["model"] == "promptir" and meta["tasks"] == ["denoise", "derain", "dehaze"]
    assert meta["source_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert meta["source_layout"] == 'Lightning {"state_dict"}, prefix net.'
    x = torch.rand(1, 3, 24, 16)
    with torch.no_grad():
        assert torch.equal(back(x), net(x))
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "aioir model (imported weights)" in text and "denoise, derain, dehaze" in text
    assert f"{sum(p.numel() for p in net.parameters()):,}" in text


def test_inspect_a_release_and_an_unknown_file(tmp_path, capsys):
    net = _perturbed("airnet")
    path = tmp_path / "All.pth"
    torch.save(_bare(net), path)
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "plain state_dict" in text and "airnet (detected from the keys)" in text
    # the parameter count the authors' layout implies: the network's own nn.Parameters
    assert f"{sum(p.numel() for p in net.parameters()):,}" in text
    torch.save({"params": {"foo.weight": torch.zeros(3, 3)}}, tmp_path / "odd.pth")
    assert main(["inspect", str(tmp_path / "odd.pth")]) == 1
    assert "fits no registered backbone" in capsys.readouterr().out
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    assert main(["restore", str(tmp_path / "odd.pth"), str(tmp_path / "x.png"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "fits no registered backbone" in capsys.readouterr().err


def test_model_must_agree_with_an_aioir_file(tmp_path, capsys):
    from aioir.inference.export import save_exported

    net = _perturbed("srresnet")
    out = save_exported(net, tmp_path / "n.safetensors", model_name="srresnet",
                        options=models.reduced_options("srresnet"), tasks=["sr"])
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    assert main(["restore", str(out), str(tmp_path / "x.png"), "--out", str(tmp_path / "o"),
                 "--model", "nafnet"]) == 2
    assert "holds a srresnet, not --model nafnet" in capsys.readouterr().err
