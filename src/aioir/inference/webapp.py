"""The local web page of ``aioir serve``: upload an image, restore it, compare, download.

One FastAPI app (the ``serve`` extra: fastapi, uvicorn, python-multipart) with one HTML page
(``static/index.html``: no script, style or font from anywhere else, so it works offline):

* ``GET /``: the page; ``GET /api/info``: the network, its tasks, whether it has an uncertainty
  map, and the upload limits;
* ``POST /api/restore`` (multipart: ``image``, optional ``ensemble=flips``, ``format`` =
  ``auto`` (the upload's own format: JPEG, PNG or WebP; PNG for any other) | ``jpeg`` | ``png`` |
  ``webp``, optional ``job``: an id the page polls for progress): restores the upload
  task-agnostically (the all-in-one network needs no task) within the memory budget and returns
  the URLs of the input (as shown: orientation applied), the result (in the chosen format: a
  JPEG upload comes back as a JPEG, not as a PNG ten times its size; 16-bit only as PNG) and,
  for a TUR checkpoint, the uncertainty map; for a network that routes by degradation
  (``aware_unet``: its ``degradation_probabilities`` hook) also what it detected;
* ``GET /api/progress/{job}``: ``{"stage", "done", "total"}`` of a restore under way (waiting,
  decoding, restoring windows, encoding);
* ``GET /api/result/{id}/{input|restored|uncertainty}.{png|jpg|webp}`` (``?download=1`` to save):
  the images of the last :data:`KEEP` results, held in memory only.

Every refusal is a JSON ``{"error": message}`` with a 4xx status that the page shows as is: a
file over the upload limit (413), over the pixel limit or the memory budget (413), a file that is
not a readable image (400). Restores run one at a time, so the budget holds.

(No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at
run time, and ``Request`` is imported inside :func:`create_app`, the extra being optional.)
"""


import os
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aioir.inference.restore import Restorer

#: results kept for display and download
KEEP = 8
#: output formats: name -> (file extension, media type); "auto" picks the upload's own
FORMATS = {"png": (".png", "image/png"), "jpeg": (".jpg", "image/jpeg"),
           "webp": (".webp", "image/webp")}
#: largest side the degradation classifier reads (a central crop of larger images)
DETECT_SIDE = 1024
#: restores whose progress is kept for the page to poll
KEEP_JOBS = 32
#: bytes read from an upload at a time
_CHUNK = 1 << 20


class UploadRefused(ValueError):
    """An upload the app does not restore; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def colour_map(u: np.ndarray) -> np.ndarray:
    """An ``H x W`` uncertainty map as ``uint8`` RGB: 0 to its 99th percentile from dark blue
    through red to yellow (higher = less certain).

    >>> colour_map(np.array([[0.0, 1.0]], np.float32)).shape
    (1, 2, 3)
    """
    top = float(np.percentile(u, 99)) if u.size else 1.0
    t = np.clip(u / top, 0.0, 1.0) if top > 0 else np.zeros_like(u)
    anchors = np.array([[13, 8, 135], [126, 3, 168], [204, 71, 120], [248, 149, 64],
                        [240, 249, 33]], dtype=np.float64)
    pos = t * (len(anchors) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(anchors) - 2)
    frac = (pos - lo)[..., None]
    rgb = anchors[lo] * (1 - frac) + anchors[lo + 1] * frac
    return np.round(rgb).astype(np.uint8)


def _png(pixels: np.ndarray, *, bits: int = 8, icc: bytes | None = None,
         exif: bytes | None = None, fmt: str = "png") -> bytes:
    """Image bytes (PNG, or ``fmt``: :data:`FORMATS`) through the one image writer (a temporary
    file: it writes atomically to paths)."""
    from aioir.data.io import write_image

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{FORMATS[fmt][0]}"
        write_image(path, pixels, bits=bits, icc_profile=icc, exif=exif)
        return path.read_bytes()


def sniff_format(data: bytes) -> str | None:
    r"""``"png"``, ``"jpeg"`` or ``"webp"`` from a file's first bytes (None: another format).

    >>> sniff_format(b"\xff\xd8\xff\xe0..."), sniff_format(b"RIFF\x00\x00\x00\x00WEBP")
    ('jpeg', 'webp')
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def output_format(asked: str, data: bytes) -> str:
    r"""The result's format: ``asked``, or for ``"auto"`` the upload's own (PNG when it is none
    of JPEG, PNG, WebP); an unknown name raises :class:`UploadRefused`.

    >>> output_format("auto", b"\xff\xd8\xff..."), output_format("auto", b"II*\x00")
    ('jpeg', 'png')
    """
    if asked == "auto":
        return sniff_format(data) or "png"
    if asked not in FORMATS:
        raise UploadRefused(f"unknown output format {asked!r}; choose auto, "
                            f"{', '.join(FORMATS)}")
    return asked


@torch.no_grad()
def detect(model: Any, tasks: list[str], pixels: np.ndarray, white: float) -> dict[str, Any] | None:
    """What a network that routes by degradation recognises in an ``H x W x 3`` image (its
    ``degradation_probabilities`` hook, :mod:`aioir.models.hooks`), or None for the others:
    ``{"task": most likely class, "probability": p, "probabilities": {class: p}}``; classes are
    ``tasks``, then ``"clean"`` when the network has one more. The classifier reads the whole
    image, or its central :data:`DETECT_SIDE` square when larger (a tiled restore routes each
    window by what it sees in that window)."""
    from aioir.models.hooks import hooks

    classify = hooks(model).degradation_probabilities
    if classify is None:
        return None
    h, w = pixels.shape[:2]
    y0, x0 = max((h - DETECT_SIDE) // 2, 0), max((w - DETECT_SIDE) // 2, 0)
    crop = np.asarray(pixels[y0:y0 + DETECT_SIDE, x0:x0 + DETECT_SIDE], dtype=np.float32)
    device = next(model.parameters()).device
    x = torch.from_numpy(crop / float(white)).permute(2, 0, 1)[None].to(device)
    probs = classify(x)[0].float().cpu().tolist()
    names = list(tasks) + (["clean"] if len(probs) == len(tasks) + 1 else [])
    if len(names) != len(probs):
        names = [f"class {k}" for k in range(len(probs))]
    best = int(np.argmax(probs))
    return {"task": names[best], "probability": round(probs[best], 4),
            "probabilities": {n: round(p, 4) for n, p in zip(names, probs)}}


class RestoreService:
    """What the app does, without HTTP: restore an uploaded file's bytes, keep the results."""

    def __init__(self, restorers: dict[str, Restorer], meta: dict[str, Any], *,
                 max_upload_bytes: int, max_pixels: int) -> None:
        self.restorers = restorers
        self.meta = meta
        self.max_upload_bytes = max_upload_bytes
        self.max_pixels = max_pixels
        # id -> (file stem, {"input" | "restored" | "uncertainty": PNG bytes})
        self.results: OrderedDict[str, tuple[str, dict[str, bytes]]] = OrderedDict()
        self._lock = threading.Lock()
        # job id -> {"stage", "done", "total"} of the restores the page polls
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _report(self, job: str | None, stage: str, done: int = 0, total: int = 0) -> None:
        if not job:
            return
        self.jobs[job] = {"stage": stage, "done": done, "total": total}
        self.jobs.move_to_end(job)
        while len(self.jobs) > KEEP_JOBS:
            self.jobs.popitem(last=False)

    def progress(self, job: str) -> dict[str, Any] | None:
        """Where the restore ``job`` is (None: unknown, or long finished)."""
        return self.jobs.get(job)

    def info(self) -> dict[str, Any]:
        from aioir.models.hooks import hooks

        first = next(iter(self.restorers.values()))
        return {
            "model": self.meta["model"],
            "tasks": self.meta["tasks"],
            "weights": self.meta.get("weights"),
            "uncertainty": first.channels_out > 3,
            "ensembles": list(self.restorers),
            "formats": ["auto", *FORMATS],
            "detects": hooks(first.model).degradation_probabilities is not None,
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
        }

    def too_large(self, size: int) -> UploadRefused:
        return UploadRefused(
            f"the file is {size / 2**20:.1f} MB; the limit is "
            f"{self.max_upload_bytes / 2**20:.1f} MB (aioir serve --max-upload-mb)", 413)

    def restore(self, name: str, data: bytes, ensemble: str = "none", fmt: str = "auto",
                job: str | None = None) -> dict[str, Any]:
        """Restore an upload into ``fmt`` (:func:`output_format`); returns the page's JSON
        answer (raises :class:`UploadRefused`). ``job``: an id under which :meth:`progress`
        tells where the restore is."""
        from aioir.data.io import ImageReadError, decode_image, image_size
        from aioir.inference.memory import BudgetError

        if ensemble not in self.restorers:
            raise UploadRefused(f"unknown ensemble {ensemble!r}; choose "
                                f"{' or '.join(self.restorers)}")
        if len(data) > self.max_upload_bytes:
            raise self.too_large(len(data))
        out_fmt = output_format(fmt, data)
        shown_name = Path(name or "upload").name
        suffix = Path(shown_name).suffix.lower() or ".img"
        restorer = self.restorers[ensemble]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            try:
                h, w = image_size(path)
                if h * w > self.max_pixels:
                    raise UploadRefused(
                        f"{shown_name} is {w} x {h} = {h * w / 1e6:.1f} megapixels; the limit is "
                        f"{self.max_pixels / 1e6:.1f} (aioir serve --max-megapixels)", 413)
                self._report(job, "waiting for another restore")
                with self._lock:
                    t0 = time.perf_counter()
                    plan, bits = restorer.file_plan(path)
                    bits = bits if out_fmt == "png" else 8  # JPEG and WebP hold 8 bits
                    self._report(job, "decoding")
                    decoded = decode_image(path)
                    detected = detect(restorer.model, list(self.meta.get("tasks") or []),
                                      decoded.pixels, decoded.white)
                    windows = [0]

                    def advance(n: int) -> None:
                        windows[0] += n
                        self._report(job, "restoring", windows[0], plan.windows)

                    advance(0)
                    res = restorer.restore_pixels(decoded.pixels, decoded.white, bits=bits,
                                                  plan=plan, progress=advance)
                    seconds = time.perf_counter() - t0
            except ImageReadError as exc:
                raise UploadRefused(str(exc).replace(str(path), shown_name)) from None
            except BudgetError as exc:
                raise UploadRefused(str(exc).replace(str(path), shown_name), 413) from None
        self._report(job, "encoding")
        shown = decoded.pixels if decoded.pixels.dtype == np.uint8 else decoded.to_float()
        images = {
            "input": _png(shown),
            "restored": _png(res.image, bits=bits, icc=decoded.icc_profile, exif=decoded.exif,
                             fmt=out_fmt),
        }
        if res.uncertainty is not None:
            images["uncertainty"] = _png(colour_map(res.uncertainty))
        key = uuid.uuid4().hex
        stem = Path(shown_name).stem or "image"
        with self._lock:
            self.results[key] = (stem, images)
            self.results.move_to_end(key)
            while len(self.results) > KEEP:
                self.results.popitem(last=False)
        ext = {k: FORMATS[out_fmt if k == "restored" else "png"][0] for k in images}
        urls = {k: f"/api/result/{key}/{k}{ext[k]}" for k in images}
        self._report(job, "done", plan.windows, plan.windows)
        return {
            "id": key,
            "width": w,
            "height": h,
            "bits": bits,
            "format": out_fmt,
            "bytes": len(images["restored"]),
            "upload_bytes": len(data),
            "seconds": round(seconds, 3),
            "windows": plan.windows,
            "ensemble": ensemble,
            "detected": detected,
            "download_name": f"{stem}_restored{ext['restored']}",
            "input": urls["input"],
            "restored": urls["restored"],
            "uncertainty": urls.get("uncertainty"),
        }


def page_html() -> str:
    """The page, from the package's ``static/index.html``."""
    return resources.files("aioir.inference").joinpath("static/index.html").read_text("utf-8")


def create_app(service: RestoreService) -> Any:
    """The FastAPI app around ``service``."""
    try:
        from fastapi import FastAPI, Request
        from fastapi.responses import HTMLResponse, JSONResponse, Response
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise ValueError("aioir serve needs the serve extra: pip install 'aioir[serve]'") from exc

    app = FastAPI(title="aioir", docs_url=None, redoc_url=None, openapi_url=None)
    html = page_html()

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return html

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        return service.info()

    @app.post("/api/restore")
    async def restore(request: Request) -> Any:
        length = request.headers.get("content-length")
        limit = service.max_upload_bytes + _CHUNK  # the multipart envelope on top of the file
        if length is not None and length.isdigit() and int(length) > limit:
            return JSONResponse({"error": str(service.too_large(int(length)))}, status_code=413)
        try:
            form = await request.form()
        except Exception as exc:  # a malformed or oversized multipart body
            return JSONResponse({"error": f"cannot read the upload: {exc}"}, status_code=400)
        upload = form.get("image")
        if upload is None or not hasattr(upload, "read"):
            return JSONResponse({"error": "no file in the upload (field 'image')"},
                                status_code=400)
        data = bytearray()
        while chunk := await upload.read(_CHUNK):
            data += chunk
            if len(data) > service.max_upload_bytes:
                return JSONResponse({"error": str(service.too_large(len(data)))},
                                    status_code=413)
        ensemble = str(form.get("ensemble") or "none")
        fmt = str(form.get("format") or "auto")
        job = str(form.get("job") or "")[:64] or None
        from starlette.concurrency import run_in_threadpool

        try:
            answer = await run_in_threadpool(service.restore, upload.filename or "upload",
                                             bytes(data), ensemble, fmt, job)
        except UploadRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except (MemoryError, RuntimeError) as exc:
            return JSONResponse({"error": f"the restore failed: {type(exc).__name__}: {exc}"},
                                status_code=500)
        return answer

    @app.get("/api/progress/{job}")
    def progress(job: str) -> Any:
        state = service.progress(job)
        if state is None:
            return JSONResponse({"error": "no such restore"}, status_code=404)
        return state

    @app.get("/api/result/{key}/{name}.{ext}")
    def result(key: str, name: str, ext: str, download: int = 0) -> Any:
        stem, images = service.results.get(key, ("", {}))
        fmt = sniff_format(images[name]) if name in images else None
        if fmt is None or FORMATS[fmt][0] != f".{ext}":
            return JSONResponse({"error": "no such result (the server keeps the last "
                                          f"{KEEP})"}, status_code=404)
        headers = {"Cache-Control": "no-store"}
        if download:
            ascii_stem = stem.encode("ascii", "replace").decode().replace('"', "_")
            headers["Content-Disposition"] = (f'attachment; filename="{ascii_stem}_{name}'
                                              f'{FORMATS[fmt][0]}"')
        return Response(images[name], media_type=FORMATS[fmt][1], headers=headers)

    return app


def serve(app: Any, host: str, port: int) -> None:
    """Run ``app`` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("AIOIR_LOG_LEVEL", "warning"))


__all__ = ["RestoreService", "UploadRefused", "colour_map", "create_app", "detect",
           "output_format", "page_html", "serve", "sniff_format"]
