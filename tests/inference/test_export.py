"""Exports (safetensors, TorchScript, ONNX) compute what the PyTorch backbone computes, for any
input size; the ONNX graph states its opset and dynamic axes; the check catches a bad export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aioir import models
from aioir.demo import demo_model_options
from aioir.inference import graph_export
from aioir.inference.export import export_checkpoint, save_exported

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

#: the demo network (the README's `aioir demo` trains it; its options at width 8), the earlier
#: compact U-Net and a published backbone (the full table over every backbone:
#: benchmarks/bench_export.py, docs/deployment.md)
CASES = [("aware_unet", demo_model_options(8)),
         ("tiny_unet", {"width": 8, "global_tone": True}),
         ("srresnet", models.reduced_options("srresnet"))]


def _fit_routing(net: torch.nn.Module) -> None:
    """aware_unet: fit its closed-form classifier and filters on degraded crops of the
    training photographs (all seven MiOIR tasks), so the check inputs are routed to different
    heads, as in a trained demo network (unfitted, every image takes head 0)."""
    from aioir.config.schema import MIOIR_TASKS
    from aioir.data.sources import EmbeddedPhotos
    from aioir.degradations import apply

    photos, rng = EmbeddedPhotos("train"), np.random.default_rng(0)
    net.train()
    for i in range(3):
        lqs, gts = [], []
        for t, task in enumerate(MIOIR_TASKS):
            for j in range(2):
                photo = photos[(i * 14 + t * 2 + j) % len(photos)]
                y, x = rng.integers(0, photo.shape[0] - 48), rng.integers(0, photo.shape[1] - 48)
                gt = np.ascontiguousarray(photo[y:y + 48, x:x + 48], np.float32)
                lq = np.ascontiguousarray(apply(task, gt, rng)[0], np.float32)
                lqs.append(torch.from_numpy(lq).permute(2, 0, 1))
                gts.append(torch.from_numpy(gt).permute(2, 0, 1))
        task_ids = torch.arange(len(MIOIR_TASKS)).repeat_interleave(2)
        net.train_forward({"lq": torch.stack(lqs), "gt": torch.stack(gts), "task_id": task_ids})
    net.eval()


def _perturbed(name: str, options: dict) -> torch.nn.Module:
    """The backbone with every weight moved off its initialisation (tiny_unet starts as the
    identity, which would hide a broken graph)."""
    torch.manual_seed(0)
    net = models.build(name, **options).eval()
    if name == "aware_unet":
        _fit_routing(net)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net


def test_the_fitted_demo_network_routes_the_check_inputs_to_several_heads():
    net = _perturbed("aware_unet", demo_model_options(8))
    with torch.no_grad():
        routed = {int(c) for x in graph_export.check_inputs() for c in net.logits(x).argmax(1)}
    assert len(routed) >= 2


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def exported(request, tmp_path_factory):
    name, options = request.param
    net = _perturbed(name, options)
    root = tmp_path_factory.mktemp(name)
    src = save_exported(net, root / "src.safetensors", model_name=name, options=options,
                        tasks=["noise", "rain"])
    return net, src, root


@pytest.mark.parametrize("fmt", ["safetensors", "torchscript", "onnx"])
def test_each_format_round_trips_with_check(exported, fmt):
    net, src, root = exported
    out = root / f"net{graph_export_ext(fmt)}"
    report = export_checkpoint(src, out, fmt=fmt, check=True)
    assert out.is_file() and report.check.max_difference <= graph_export.CHECK_TOLERANCE
    # independently of the check: a fresh size and batch through the format's own runtime
    x = torch.rand(3, 3, 29, 83, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = net(x)
    if fmt == "safetensors":
        from safetensors.torch import load_file

        back = models.build(report.model, **json.loads(_meta(out)["options"])).eval()
        back.load_state_dict(load_file(str(out)))
        with torch.no_grad():
            got = back(x)
        assert torch.equal(got, want)
    elif fmt == "torchscript":
        extra = {"aioir.json": ""}
        ts = torch.jit.load(str(out), _extra_files=extra)
        assert json.loads(extra["aioir.json"])["tasks"] == json.dumps(["noise", "rain"])
        with torch.no_grad():
            got = ts(x)
        assert (got - want).abs().max() <= 1e-5
    else:
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {"image": x.numpy()})[0])
        assert (got - want).abs().max() <= 1e-5


def graph_export_ext(fmt: str) -> str:
    from aioir.inference.export import FORMATS

    return FORMATS[fmt]


def _meta(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return fh.metadata()


def test_onnx_graph_states_opset_dynamic_axes_and_metadata(exported):
    _net, src, root = exported
    out = root / "axes.onnx"
    export_checkpoint(src, out, fmt="onnx")
    proto = onnx.load(str(out))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [17]
    for value in (proto.graph.input[0], proto.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, "height", "width"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["format"] == "aioir-backbone" and json.loads(meta["tasks"]) == ["noise", "rain"]


def test_check_catches_an_export_that_differs(tmp_path):
    net = _perturbed("tiny_unet", {"width": 8})

    class Off(torch.nn.Module):  # an export whose output is off by 1e-3: above the tolerance
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x) + 1e-3

    path = tmp_path / "off.ts"
    torch.jit.save(torch.jit.trace(Off(), torch.rand(*graph_export.TRACE_SIZE), check_trace=False),
                   str(path))
    with pytest.raises(graph_export.ExportCheckError, match=r"differs from PyTorch by 0\.001"):
        graph_export.check_export(net, path, "torchscript")


def test_check_catches_a_graph_frozen_at_the_trace_size(tmp_path):
    """Without traced padding a trace keeps the example's padding: other sizes then fail."""
    from aioir.models import padding

    net = _perturbed("tiny_unet", {"width": 8})
    example = torch.rand(1, 3, 64, 64)  # a multiple of 4: no padding recorded
    real = torch.jit.is_tracing
    try:
        torch.jit.is_tracing = lambda: False  # the eager padding, frozen by the tracer
        frozen = torch.jit.trace(net, example, check_trace=False)
    finally:
        torch.jit.is_tracing = real
    path = tmp_path / "frozen.ts"
    torch.jit.save(frozen, str(path))
    with pytest.raises(graph_export.ExportCheckError, match="fails on a 2x3x45x61 input"):
        graph_export.check_export(net, path, "torchscript")
    assert padding.TRACED_REFLECT_STEPS >= 1


def test_failed_check_writes_nothing(tmp_path, monkeypatch):
    net = _perturbed("srresnet", models.reduced_options("srresnet"))
    src = save_exported(net, tmp_path / "s.safetensors", model_name="srresnet",
                        options=models.reduced_options("srresnet"), tasks=["noise"])

    def broken(model, path, fmt, **kw):
        raise graph_export.ExportCheckError("the torchscript export differs")

    monkeypatch.setattr(graph_export, "check_export", broken)
    with pytest.raises(graph_export.ExportCheckError):
        export_checkpoint(src, tmp_path / "net.ts", fmt="torchscript", check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.safetensors"]


def test_an_export_that_fails_says_so_in_one_line(tmp_path, monkeypatch, capfd):
    """A network the exporter cannot express (torch.quantile has no ONNX form): one line naming
    the format and the cause, not the Torch IR graph the exporter prints (126 KB for the demo
    network before its quantiles were rewritten)."""
    import aioir.inference.export as export_module

    class Quantile(torch.nn.Module):
        def forward(self, x):
            return x * torch.quantile(x.flatten(1), torch.tensor([0.5]), dim=1)[:, None, None, None]

    src = tmp_path / "q.safetensors"
    src.write_bytes(b"")
    monkeypatch.setattr(export_module, "load_network",
                        lambda path, use_ema=True, **_: (Quantile(), {"model": "quantile",
                                                                  "options": {}, "tasks": [],
                                                                  "weights": "export"}))
    with pytest.raises(ValueError) as info:
        export_checkpoint(src, tmp_path / "q.onnx", fmt="onnx")
    message = str(info.value)
    assert "\n" not in message and "in onnx" in message and "aten::quantile" in message
    out, err = capfd.readouterr()
    assert "graph" not in (out + err) and len(out + err) < 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.safetensors"]
