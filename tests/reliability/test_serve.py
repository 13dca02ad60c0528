"""``aioir serve`` under a burst and odd uploads, as a user's client sends them: 30 concurrent
uploads are all fetchable afterwards (it used to keep the last 8), odd file names restore and
download, a chunked upload is refused as soon as it passes the limit (not after all of it
arrived), and bad limits or a busy port are one line before anything is served."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import child_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared serve helper
from serving import free_port as _free_port
from serving import running

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")
pytest.importorskip("multipart", reason="the serve extra is not installed")




def _serve(checkpoint, port: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aioir", "serve", str(checkpoint), "--port", str(port),
         "--device", "cpu", *extra], env=child_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def server(reference):
    """``aioir serve`` on the reference checkpoint, upload limit 1 MB."""
    ckpt = reference.run_dir / "checkpoints" / "step_00000008.pt"
    port = _free_port()
    proc = _serve(ckpt, port, "--max-upload-mb", "1")
    with running(proc, port) as base:
        yield ckpt, port, base


def _png(seed: int, h: int = 120, w: int = 160) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
                    ).save(buf, "PNG")
    return buf.getvalue()


def _multipart(data: bytes, name: str) -> tuple[bytes, str]:
    b = uuid.uuid4().hex
    head = (f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


def _get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=120) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def _post(base: str, data: bytes, name: str) -> tuple[int, dict]:
    body, ctype = _multipart(data, name)
    req = urllib.request.Request(base + "/api/restore", data=body,
                                 headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_burst_of_30_uploads_keeps_every_result(server):
    _, _, base = server
    with ThreadPoolExecutor(30) as pool:
        answers = list(pool.map(lambda i: _post(base, _png(i), f"photo{i}.png"), range(30)))
    assert [status for status, _ in answers] == [200] * 30, answers
    for _, answer in answers:
        for what in ("input", "restored"):
            status, png, _ = _get(base + answer[what])
            assert status == 200, (what, png[:200])
            assert Image.open(io.BytesIO(png)).size == (160, 120)


@pytest.mark.parametrize("name", ["a." + "x" * 300, "a.png\0.exe"], ids=["long-suffix", "nul"])
def test_odd_file_names_restore_and_download(server, name):
    _, _, base = server
    status, answer = _post(base, _png(7), name)
    assert status == 200, answer
    status, png, headers = _get(base + answer["restored"] + "?download=1")
    assert status == 200 and png.startswith(b"\x89PNG")
    disposition = headers["content-disposition"]
    assert disposition.isascii() and "\0" not in disposition, disposition


def test_a_chunked_upload_is_refused_while_it_streams(server):
    """The client sends 3 MB of a chunked upload (limit 1 MB) and then waits: the answer comes
    without the rest (the server used to wait for the whole body)."""
    _, port, _ = server
    body, ctype = _multipart(b"\0" * (3 << 20), "big.png")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall((f"POST /api/restore HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n").encode())
        for i in range(0, len(body) - 100, 64 << 10):  # all but the end of the body
            part = body[i:min(i + (64 << 10), len(body) - 100)]
            try:
                s.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed
        s.settimeout(15)
        answer = b""
        while b"}" not in answer:  # the status line, the headers, then the JSON body
            data = s.recv(4096)
            if not data:
                break
            answer += data
        answer = answer.decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "the limit is 1.0 MB" in answer


def test_a_busy_port_is_one_line_before_the_url(server):
    ckpt, port, _ = server
    proc = _serve(ckpt, port)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "open http" not in out, out
    assert err.strip().startswith(f"aioir serve: error: cannot listen on 127.0.0.1:{port}: "), err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("value", ["inf", "nan", "-1"])
def test_upload_limits_must_be_finite_numbers(reference, value, capsys):
    from aioir.cli import main

    ckpt = reference.run_dir / "checkpoints" / "step_00000008.pt"
    assert main(["serve", str(ckpt), "--max-upload-mb", value]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"aioir serve: error: --max-upload-mb must be a positive number, got " \
                  f"{float(value)}", err
