"""The local web page of ``aioir serve``: upload an image, restore it, compare, download.

One FastAPI app (the ``serve`` extra: fastapi, uvicorn, python-multipart) with one HTML page
(``static/index.html``: no script, style or font from anywhere else, so it works offline):

* ``GET /``: the page; ``GET /api/info``: the network, its tasks, whether it has an uncertainty
  map, and the upload limits;
* ``POST /api/restore`` (multipart: ``image``, optional ``ensemble=flips``): restores the upload
  task-agnostically (the all-in-one network needs no task) within the memory budget and returns
  the URLs of the input (as shown: orientation applied), the result and, for a TUR checkpoint,
  the uncertainty map;
* ``GET /api/result/{id}/{input|restored|uncertainty}.png`` (``?download=1`` to save): the
  images of the last :data:`KEEP` results, held in memory only.

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

from aioir.inference.restore import Restorer

#: results kept for display and download
KEEP = 8
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
         exif: bytes | None = None) -> bytes:
    """PNG bytes through the one image writer (a temporary file: it writes atomically to paths)."""
    from aioir.data.io import write_image

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.png"
        write_image(path, pixels, bits=bits, icc_profile=icc, exif=exif)
        return path.read_bytes()


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

    def info(self) -> dict[str, Any]:
        first = next(iter(self.restorers.values()))
        return {
            "model": self.meta["model"],
            "tasks": self.meta["tasks"],
            "weights": self.meta.get("weights"),
            "uncertainty": first.channels_out > 3,
            "ensembles": list(self.restorers),
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
        }

    def too_large(self, size: int) -> UploadRefused:
        return UploadRefused(
            f"the file is {size / 2**20:.1f} MB; the limit is "
            f"{self.max_upload_bytes / 2**20:.1f} MB (aioir serve --max-upload-mb)", 413)

    def restore(self, name: str, data: bytes, ensemble: str = "none") -> dict[str, Any]:
        """Restore an upload; returns the page's JSON answer (raises :class:`UploadRefused`)."""
        from aioir.data.io import ImageReadError, decode_image, image_size
        from aioir.inference.memory import BudgetError

        if ensemble not in self.restorers:
            raise UploadRefused(f"unknown ensemble {ensemble!r}; choose "
                                f"{' or '.join(self.restorers)}")
        if len(data) > self.max_upload_bytes:
            raise self.too_large(len(data))
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
                with self._lock:
                    t0 = time.perf_counter()
                    plan, bits = restorer.file_plan(path)
                    decoded = decode_image(path)
                    res = restorer.restore_pixels(decoded.pixels, decoded.white, bits=bits,
                                                  plan=plan)
                    seconds = time.perf_counter() - t0
            except ImageReadError as exc:
                raise UploadRefused(str(exc).replace(str(path), shown_name)) from None
            except BudgetError as exc:
                raise UploadRefused(str(exc).replace(str(path), shown_name), 413) from None
        shown = decoded.pixels if decoded.pixels.dtype == np.uint8 else decoded.to_float()
        images = {
            "input": _png(shown),
            "restored": _png(res.image, bits=bits, icc=decoded.icc_profile, exif=decoded.exif),
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
        urls = {k: f"/api/result/{key}/{k}.png" for k in images}
        return {
            "id": key,
            "width": w,
            "height": h,
            "bits": bits,
            "seconds": round(seconds, 3),
            "windows": plan.windows,
            "ensemble": ensemble,
            "download_name": f"{stem}_restored.png",
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
        from starlette.concurrency import run_in_threadpool

        try:
            answer = await run_in_threadpool(service.restore, upload.filename or "upload",
                                             bytes(data), ensemble)
        except UploadRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except (MemoryError, RuntimeError) as exc:
            return JSONResponse({"error": f"the restore failed: {type(exc).__name__}: {exc}"},
                                status_code=500)
        return answer

    @app.get("/api/result/{key}/{name}.png")
    def result(key: str, name: str, download: int = 0) -> Any:
        stem, images = service.results.get(key, ("", {}))
        if name not in images:
            return JSONResponse({"error": "no such result (the server keeps the last "
                                          f"{KEEP})"}, status_code=404)
        headers = {"Cache-Control": "no-store"}
        if download:
            ascii_stem = stem.encode("ascii", "replace").decode().replace('"', "_")
            headers["Content-Disposition"] = f'attachment; filename="{ascii_stem}_{name}.png"'
        return Response(images[name], media_type="image/png", headers=headers)

    return app


def serve(app: Any, host: str, port: int) -> None:
    """Run ``app`` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=os.environ.get("AIOIR_LOG_LEVEL", "warning"))


__all__ = ["RestoreService", "UploadRefused", "colour_map", "create_app", "page_html", "serve"]
