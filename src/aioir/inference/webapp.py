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
  the images of every result, held in memory only, for :data:`RESULT_TTL_S` seconds after their
  restore; beyond :data:`RESULT_BYTES` in all, the oldest results that have been fetched go
  first, and only then the oldest ones (a burst of uploads never loses a result before its
  client fetched it).

Every refusal is a JSON ``{"error": message}`` with a 4xx status that the page shows as is: a
file over the upload limit (413), over the pixel limit or the memory budget (413), a file that is
not a readable image (400). Restores run one at a time, so the budget holds, in a thread of
their own: queued restores never hold up the page, the info or a result's download (those
handlers run on the event loop). An upload is counted while it streams in, chunked or not, and
refused as soon as it passes the limit.

(No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at
run time, and ``Request`` is imported inside :func:`create_app`, the extra being optional.)
"""


import asyncio
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from aioir.data.io import ImageReadError, decode_image, image_size, write_image
from aioir.inference.memory import BudgetError
from aioir.inference.restore import Restorer
from aioir.models.hooks import hooks

#: seconds a result is kept for display and download
RESULT_TTL_S = 3600.0
#: bytes of results kept in memory at most (the oldest fetched ones go first)
RESULT_BYTES = 512 * 2**20
#: output formats: name -> (file extension, media type); "auto" picks the upload's own
FORMATS = {"png": (".png", "image/png"), "jpeg": (".jpg", "image/jpeg"),
           "webp": (".webp", "image/webp")}
#: restores whose progress is kept for the page to poll
KEEP_JOBS = 32
#: bytes read from an upload at a time
_CHUNK = 1 << 20


class UploadRefused(ValueError):
    """An upload the app does not restore; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def colour_map(u: np.ndarray, border: int = 0) -> np.ndarray:
    """An ``H x W`` uncertainty map as ``uint8`` RGB: 0 to its 99th percentile from dark blue
    through red to yellow (higher = less certain). ``border``: pixels at each side that the
    head computed from its convolutions' zero padding
    (:func:`~aioir.inference.uncertainty.head_border`): they are shown with their nearest
    interior value and left out of the colour range (they read several times the interior and
    drew a saturated frame around every map).

    >>> colour_map(np.array([[0.0, 1.0]], np.float32)).shape
    (1, 2, 3)
    >>> u = np.ones((8, 8), np.float32); u[0, :] = 50.0  # a padding artefact on the top row
    >>> bool((colour_map(u, border=1) == colour_map(u, border=1)[4, 4]).all())
    True
    """
    h, w = u.shape[:2]
    if border > 0 and h > 2 * border and w > 2 * border:
        u = np.pad(u[border:h - border, border:w - border], border, mode="edge")
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
        self._made: dict[str, float] = {}  # id -> time of its restore
        self._fetched: set[str] = set()
        self._lock = threading.Lock()  # one restore at a time
        self._results_lock = threading.Lock()
        # job id -> {"stage", "done", "total"} of the restores the page polls
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _keep(self, key: str, stem: str, images: dict[str, bytes]) -> None:
        """Store a result; drop expired ones, then fetched ones oldest first while over
        :data:`RESULT_BYTES`, then the oldest (never the one just made)."""
        now = time.monotonic()
        with self._results_lock:
            self.results[key] = (stem, images)
            self._made[key] = now
            for k in [k for k, t in self._made.items() if now - t > RESULT_TTL_S]:
                self._forget(k)
            size = lambda: sum(sum(map(len, imgs.values()))
                               for _, imgs in self.results.values())
            for pool in ([k for k in self.results if k in self._fetched], list(self.results)):
                for k in pool:
                    if k == key or size() <= RESULT_BYTES:
                        continue
                    self._forget(k)

    def _forget(self, key: str) -> None:
        self.results.pop(key, None)
        self._made.pop(key, None)
        self._fetched.discard(key)

    def image(self, key: str, name: str) -> tuple[str, bytes] | None:
        """The stem and encoded bytes of image ``name`` of result ``key``, None when unknown."""
        with self._results_lock:
            stem, images = self.results.get(key, ("", {}))
            if name not in images:
                return None
            self._fetched.add(key)
            return stem, images[name]

    def _report(self, job: str | None, stage: str, done: int = 0, total: int = 0) -> None:
        if not job:
            return
        with self._results_lock:
            self.jobs[job] = {"stage": stage, "done": done, "total": total}
            self.jobs.move_to_end(job)
            while len(self.jobs) > KEEP_JOBS:
                self.jobs.popitem(last=False)

    def progress(self, job: str) -> dict[str, Any] | None:
        """Where the restore ``job`` is (None: unknown, or long finished)."""
        with self._results_lock:
            state = self.jobs.get(job)
            return None if state is None else dict(state)

    def info(self) -> dict[str, Any]:
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
        if ensemble not in self.restorers:
            raise UploadRefused(f"unknown ensemble {ensemble!r}; choose "
                                f"{' or '.join(self.restorers)}")
        if len(data) > self.max_upload_bytes:
            raise self.too_large(len(data))
        out_fmt = output_format(fmt, data)
        shown_name = Path(name or "upload").name
        suffix = Path(shown_name).suffix.lower()  # a plain short one only (a 300-char or
        if not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):  # odd one made a path too long)
            suffix = ".img"
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
            images["uncertainty"] = _png(colour_map(res.uncertainty,
                                                      border=restorer.uncertainty_border))
        key = uuid.uuid4().hex
        stem = Path(shown_name).stem or "image"
        self._keep(key, stem, images)
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
            "detected": res.detected,  # Restorer.detect: the network's own classifier
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
        raise ValueError("aioir serve needs the serve extra: pip install -e '.[serve]' in the clone") from exc

    app = FastAPI(title="aioir", docs_url=None, redoc_url=None, openapi_url=None)
    html = page_html()
    restores = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aioir-restore")

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return html

    @app.get("/api/info")
    async def info() -> dict[str, Any]:
        return service.info()

    @app.post("/api/restore")
    async def restore(request: Request) -> Any:
        length = request.headers.get("content-length")
        limit = service.max_upload_bytes + _CHUNK  # the multipart envelope on top of the file
        if length is not None and length.isdigit() and int(length) > limit:
            return JSONResponse({"error": str(service.too_large(int(length)))}, status_code=413)
        body = bytearray()  # counted as it streams in (a chunked upload has no length)
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return JSONResponse({"error": str(service.too_large(len(body)))},
                                    status_code=413)

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        try:
            form = await Request(request.scope, replay).form()
        except Exception as exc:  # noqa: BLE001 - a malformed or oversized multipart body
            return JSONResponse({"error": f"cannot read the upload: {exc}"}, status_code=400)
        upload = form.get("image")
        if upload is None or isinstance(upload, str):  # a plain form field, not a file
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
        loop = asyncio.get_running_loop()
        try:  # in the restores' own thread: queued restores hold no thread of the page's
            answer = await loop.run_in_executor(restores, service.restore,
                                                 upload.filename or "upload", bytes(data),
                                                 ensemble, fmt, job)
        except UploadRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except (MemoryError, RuntimeError, OSError) as exc:
            return JSONResponse({"error": f"the restore failed: {type(exc).__name__}: {exc}"},
                                status_code=500)
        return answer

    @app.get("/api/progress/{job}")
    async def progress(job: str) -> Any:
        state = service.progress(job)
        if state is None:
            return JSONResponse({"error": "no such restore"}, status_code=404)
        return state

    @app.get("/api/result/{key}/{name}.{ext}")
    async def result(key: str, name: str, ext: str, download: int = 0) -> Any:
        found = service.image(key, name)
        fmt = sniff_format(found[1]) if found is not None else None
        if found is None or fmt is None or FORMATS[fmt][0] != f".{ext}":
            return JSONResponse({"error": "no such result (the server keeps results for "
                                          f"{RESULT_TTL_S / 60:.0f} minutes)"}, status_code=404)
        stem, data = found
        headers = {"Cache-Control": "no-store"}
        if download:  # a header value: printable ASCII only (a NUL dropped the connection)
            safe = re.sub(r"[^A-Za-z0-9._+-]", "_", stem)[:100] or "image"
            headers["Content-Disposition"] = f'attachment; filename="{safe}_{name}{FORMATS[fmt][0]}"'
        return Response(data, media_type=FORMATS[fmt][1], headers=headers)

    return app


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (before the URL is printed); a busy port is one line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose "
                         "another --port or --host (or stop what uses it)") from None
    return sock


def serve(app: Any, host: str, port: int, sock: socket.socket | None = None) -> None:
    """Run ``app`` with uvicorn until interrupted (on ``sock`` when given, see
    :func:`listen`)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port,
                            log_level=os.environ.get("AIOIR_LOG_LEVEL", "warning"))
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)


__all__ = ["RestoreService", "UploadRefused", "colour_map", "create_app", "listen",
           "output_format", "page_html", "serve", "sniff_format"]
