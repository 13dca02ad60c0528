"""TorchScript and ONNX exports of a backbone, and the check that they compute what PyTorch does.

Both formats come from one trace (``torch.jit.trace``) of the eval-mode backbone on an odd-sized
example (:data:`TRACE_SIZE`), so the input padding every backbone applies is recorded with its
size arithmetic (:mod:`aioir.models.padding` records traced sizes as graph operations) and the
graph accepts any batch, height and width:

* TorchScript (``.ts``): ``torch.jit.save`` of the trace, with ``aioir.json`` (model, options,
  tasks) as an extra file. Load with ``torch.jit.load(path)``.
* ONNX (``.onnx``): the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``),
  opset :data:`ONNX_OPSET`; input ``image`` and output ``restored``, both ``float32
  [batch, 3, height, width]`` with the three dynamic axes named so; values in [0, 1] in and out
  (not clamped). The metadata is in the model's ``metadata_props``. The torch.export-based
  exporter (the default since torch 2.9) is not used: with dynamic height and width declared it
  failed on 8 of the 9 backbones (sizes fixed to the example's, or no export after minutes;
  ``docs/deployment.md``).

:func:`check_export` runs the exported file on a test photograph and on two odd-sized inputs
(one a batch of two) with the runtime a user would use (``torch.jit.load``, onnxruntime,
:func:`~aioir.inference.reader.load_network` for safetensors) and compares with the PyTorch
backbone: the largest absolute difference must be at most :data:`CHECK_TOLERANCE` (on outputs
in [0, 1]; 1e-4 is 0.026 of an 8-bit level). A shape the graph cannot take, or a difference
above the tolerance, raises :class:`ExportCheckError` naming the input.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from aioir.data.sources import EmbeddedPhotos
from aioir.inference.reader import load_network

#: ONNX operator set of the exports (GridSample for the pure-PyTorch deformable conv needs 16)
ONNX_OPSET = 17
#: largest absolute difference allowed between an exported network and PyTorch
CHECK_TOLERANCE = 1e-4
#: example the trace runs on (odd sides, so the padding branch is recorded)
TRACE_SIZE = (1, 3, 67, 93)
#: the check's extra inputs (odd sides, a batch of two, a tall one)
CHECK_SHAPES = ((2, 3, 45, 61), (1, 3, 97, 50))
#: the graphs' input / output names and dynamic axes
INPUT_NAME, OUTPUT_NAME = "image", "restored"
DYNAMIC_AXES = {0: "batch", 2: "height", 3: "width"}


class ExportCheckError(ValueError):
    """The exported network does not compute what the PyTorch one does (message says where)."""


def cause(exc: BaseException) -> str:
    r"""One line saying why ``exc`` happened: the last ``SomeError: ...`` line of a multi-line
    message (TorchScript's interpreter puts the real error last), else its first line.

    >>> cause(RuntimeError("The following operation failed.\nTraceback...\n  x = f()\n"
    ...                    "RuntimeError: shape '[1, 3]' is invalid"))
    "RuntimeError: shape '[1, 3]' is invalid"
    >>> cause(ValueError(""))
    'ValueError'
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    for line in reversed(lines[1:]):
        head = line.split(":", 1)[0]
        if ":" in line and head.endswith(("Error", "Exception")) and " " not in head:
            return line
    return f"{type(exc).__name__}: {lines[0]}"


@contextlib.contextmanager
def captured_output() -> Iterator[io.StringIO]:
    """Send what runs inside to a buffer instead of the terminal: ``sys.stdout``/``sys.stderr``
    and the process's file descriptors 1 and 2 (the ONNX exporter prints the whole Torch IR graph,
    100 KB and more, when it fails; C++ warnings go to the descriptors). The buffer holds it all
    afterwards."""
    buffer = io.StringIO()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved: list[tuple[int, int]] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            for fd in (1, 2):
                with contextlib.suppress(OSError):
                    saved.append((fd, os.dup(fd)))
                    os.dup2(sink.fileno(), fd)
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                yield buffer
        finally:
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            buffer.write(sink.read().decode("utf-8", "replace"))


def _trace(model: nn.Module) -> torch.jit.ScriptModule:
    example = torch.rand(*TRACE_SIZE, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(), captured_output():
        # size-to-int conversions are reported by the tracer; check_export is what verifies
        warnings.simplefilter("ignore")
        with torch.no_grad():
            return torch.jit.trace(model.eval(), example, check_trace=False)


def torchscript_bytes(model: nn.Module, metadata: dict[str, str]) -> bytes:
    """``model`` traced and serialised as TorchScript, with ``metadata`` in ``aioir.json``
    (in memory: the caller writes it, so a full disk is an ``OSError`` naming the target, not
    a C++ abort inside ``torch.jit.save``)."""
    traced = _trace(model)
    buf = io.BytesIO()
    torch.jit.save(traced, buf, _extra_files={"aioir.json": json.dumps(metadata)})
    return buf.getvalue()


def onnx_bytes(model: nn.Module, metadata: dict[str, str], *,
               opset: int = ONNX_OPSET) -> bytes:
    """``model`` as an ONNX graph (opset ``opset``, dynamic batch/height/width) with
    ``metadata``, serialised in memory."""
    try:
        import onnx
    except ImportError as exc:
        raise ValueError("ONNX export needs the onnx package: pip install -e '.[onnx]' in the clone") from exc
    example = torch.rand(*TRACE_SIZE, generator=torch.Generator().manual_seed(0))
    axes = {INPUT_NAME: DYNAMIC_AXES, OUTPUT_NAME: DYNAMIC_AXES}
    buf = io.BytesIO()
    with warnings.catch_warnings(), captured_output():
        warnings.simplefilter("ignore")  # tracer size warnings, the exporter's deprecation note
        with torch.no_grad():  # (a failing exporter prints the whole graph: kept out of sight)
            # a file-like target is documented (f: "a file-like object or a string")
            torch.onnx.export(model.eval(), (example,), buf, dynamo=False,  # type: ignore[arg-type]
                              opset_version=opset, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], dynamic_axes=axes)
    proto = onnx.load_model_from_string(buf.getvalue())
    # the backbone contract: the output has the input's shape (shape inference may not see the
    # channel count through the padding and cropping)
    channels = proto.graph.output[0].type.tensor_type.shape.dim[1]
    channels.Clear()
    channels.dim_value = TRACE_SIZE[1]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def runner(path: str | Path, fmt: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function running the exported file the way a user of ``fmt`` would."""
    path = Path(path)
    if fmt == "safetensors":
        net, _ = load_network(path)
        return lambda x: net(x)
    if fmt == "torchscript":
        ts = torch.jit.load(str(path), map_location="cpu")
        return lambda x: ts(x)
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ValueError("checking an ONNX export needs onnxruntime: "
                             "pip install -e '.[onnx]' in the clone") from exc
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])
    raise ValueError(f"unknown export format {fmt!r}")


def check_inputs() -> list[torch.Tensor]:
    """The check's inputs: a crop of a held-out photograph, then :data:`CHECK_SHAPES` of
    crops of it (float32 in [0, 1])."""
    photo = torch.from_numpy(np.ascontiguousarray(EmbeddedPhotos("test")[0])).permute(2, 0, 1)
    inputs = [photo[None, :, 40:168, 100:260].contiguous()]
    for b, _c, h, w in CHECK_SHAPES:
        inputs.append(torch.stack([photo[:, 7 * i : 7 * i + h, 11 * i : 11 * i + w]
                                   for i in range(b)]).contiguous())
    return inputs


@dataclass
class CheckReport:
    """Largest absolute difference to PyTorch per checked input shape."""

    fmt: str
    tolerance: float
    differences: list[tuple[tuple[int, ...], float]] = field(default_factory=list)

    @property
    def max_difference(self) -> float:
        return max(d for _, d in self.differences)

    def summary(self) -> str:
        shapes = ", ".join("x".join(map(str, s)) for s, _ in self.differences)
        return (f"{self.fmt} check passed: max |exported - PyTorch| = {self.max_difference:.2e} "
                f"(tolerance {self.tolerance:.0e}) on inputs {shapes}")


@torch.no_grad()
def check_export(model: nn.Module, path: str | Path, fmt: str, *,
                 tolerance: float = CHECK_TOLERANCE) -> CheckReport:
    """Run the export at ``path`` and ``model`` on :func:`check_inputs`; raise
    :class:`ExportCheckError` unless every output matches within ``tolerance``."""
    run = runner(path, fmt)
    model.eval()
    report = CheckReport(fmt, tolerance)
    for x in check_inputs():
        shape = tuple(x.shape)
        want = model(x)
        try:
            got = run(x)
        except Exception as exc:  # the runtime's own error: the graph cannot take this input
            raise ExportCheckError(
                f"the {fmt} export fails on a {'x'.join(map(str, shape))} input: {cause(exc)}"
            ) from exc
        if tuple(got.shape) != tuple(want.shape):
            raise ExportCheckError(
                f"the {fmt} export returns {tuple(got.shape)} for a {shape} input "
                f"(PyTorch: {tuple(want.shape)})"
            )
        diff = float((got.float() - want.float()).abs().max())
        report.differences.append((shape, diff))
        if not diff <= tolerance:
            raise ExportCheckError(
                f"the {fmt} export differs from PyTorch by {diff:.3g} (tolerance "
                f"{tolerance:.0e}) on a {'x'.join(map(str, shape))} input"
            )
    return report
