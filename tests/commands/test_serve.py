"""``aioir serve`` end to end: a real server on a free localhost port, its JSON API, and the page
in a real headless Chromium (upload, result, slider, download, uncertainty map, messages)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")
pytest.importorskip("multipart", reason="the serve extra is not installed")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared browser module
from browser import open_page, unavailable_reason
from serving import free_port as _free_port
from serving import running


@pytest.fixture(scope="module")
def server(tur_checkpoint):
    """``aioir serve`` on the TUR checkpoint, limits 1 MB and 0.25 megapixels."""
    port = _free_port()
    cmd = [sys.executable, "-m", "aioir", "serve", str(tur_checkpoint), "--port", str(port),
           "--max-upload-mb", "1", "--max-megapixels", "0.25", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    with running(proc, port) as base:
        yield base


def _png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def _post(base: str, data: bytes, name: str) -> tuple[int, dict]:
    b = uuid.uuid4().hex
    body = (f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data
    body += f"\r\n--{b}--\r\n".encode()
    req = urllib.request.Request(base + "/api/restore", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={b}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _expected(tur_checkpoint: Path, a: np.ndarray) -> np.ndarray:
    """What the checkpoint's EMA backbone gives for ``a``, computed here directly."""
    from aioir.inference.reader import load_network

    net, _ = load_network(tur_checkpoint)
    with torch.no_grad():
        y = net(torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None])
    return np.round(y.clamp(0, 1)[0].permute(1, 2, 0).double().numpy() * 255).astype(np.uint8)


def _photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- the API ------------------------------------------------------------------------------------

def test_info_and_restore(server, tur_checkpoint):
    info = json.loads(urllib.request.urlopen(server + "/api/info").read())
    assert info["model"] == "tiny_unet" and info["uncertainty"] is True
    assert info["max_upload_bytes"] == 2**20
    a = _photo()
    status, answer = _post(server, _png_bytes(a), "photo.png")
    assert status == 200, answer
    fetch = lambda url: np.asarray(Image.open(io.BytesIO(urllib.request.urlopen(server + url).read())))
    got = fetch(answer["restored"])
    assert np.array_equal(got, _expected(tur_checkpoint, a))
    shown = fetch(answer["input"])
    assert np.array_equal(shown, a)
    umap = Image.open(io.BytesIO(urllib.request.urlopen(server + answer["uncertainty"]).read()))
    assert umap.size == (64, 48)


@pytest.mark.parametrize("data,name,status,message", [
    (b"not an image at all", "notes.png", 400,
     "cannot read image notes.png: not a recognised image format"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "cut.png", 400, "cannot read image cut.png"),
    (b"x" * (2**20 + 10), "big.jpg", 413, "the file is 1.0 MB; the limit is 1.0 MB"),
])
def test_bad_uploads_get_a_clear_message(server, data, name, status, message):
    code, answer = _post(server, data, name)
    assert code == status and message in answer["error"]


def test_pixel_limit(server):
    code, answer = _post(server, _png_bytes(np.zeros((600, 600, 3), np.uint8)), "wide.png")
    assert code == 413
    assert answer["error"] == ("wide.png is 600 x 600 = 0.4 megapixels; the limit is 0.2 "
                               "(aioir serve --max-megapixels)")


def test_unknown_result_is_404(server):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server + "/api/result/nope/restored.png")
    assert e.value.code == 404


# --- the page in a real browser ------------------------------------------------------------------

@pytest.fixture
def browser_page():
    """The shared headless Chromium (tests/browser.py), online: the page talks to the server on
    localhost (the helper's default offline mode would block that too)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with open_page(offline=False) as seen:
        yield seen


def test_page_end_to_end(server, browser_page, tur_checkpoint, tmp_path):
    page = browser_page.page
    browser_page.open(server + "/")
    page.wait_for_function("document.getElementById('meta').textContent.includes('tiny_unet')")

    # upload, restore, see the result
    a = _photo(40, 56, seed=3)
    src = tmp_path / "upload.png"
    src.write_bytes(_png_bytes(a))
    page.set_input_files("#file", str(src))
    page.click("#restore")
    page.wait_for_function("document.getElementById('after').naturalWidth === 56")
    assert page.is_visible("#compare")
    assert "restored upload.png (56 \u00d7 40)" in page.text_content("#message")
    # the two images decode independently: the input may finish after the output
    page.wait_for_function("document.getElementById('before').naturalHeight === 40")
    page.wait_for_function("document.getElementById('uncertainty').naturalWidth === 56")
    assert page.is_visible("#uncertainty")

    # the slider moves the boundary between before and after
    page.fill("#slider", "25")
    assert page.evaluate("getComputedStyle(document.getElementById('before')).clipPath") == \
        "inset(0px 75% 0px 0px)"
    assert page.evaluate("document.getElementById('handle').style.left") == "25%"
    page.fill("#slider", "90")
    assert page.evaluate("getComputedStyle(document.getElementById('before')).clipPath") == \
        "inset(0px 10% 0px 0px)"

    # download: the file is the network's output
    with page.expect_download() as info:
        page.click("#download")
    download = info.value
    assert download.suggested_filename == "upload_restored.png"
    saved = tmp_path / "saved.png"
    download.save_as(saved)
    assert np.array_equal(np.asarray(Image.open(saved)), _expected(tur_checkpoint, a))

    # a bad file: the page says why, and hides the old result
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    page.set_input_files("#file", str(bad))
    page.click("#restore")
    page.wait_for_function("document.getElementById('message').className === 'error'")
    assert page.text_content("#message") == \
        "cannot read image broken.png: not a recognised image format"
    assert not page.is_visible("#compare")

    # a file over the upload limit: refused on the page before it is sent
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * (2**20 + 1))
    page.set_input_files("#file", str(big))
    page.click("#restore")
    assert "the file is 1.0 MB; the limit is 1.0 MB" in page.text_content("#message")

    # the browser logs the refused upload (400) as a failed resource; nothing else may fail
    errors = browser_page.console_errors + browser_page.page_errors
    assert [e for e in errors if "status of 400" not in e] == [], errors
    assert browser_page.failed_requests == []
    foreign = [u for u in browser_page.external_requests if not u.startswith(server)]
    assert foreign == [], f"the page fetched from elsewhere: {foreign}"


# --- the demo network: what it detected, output formats, 1:1 view, progress ----------------------

@pytest.fixture(scope="module")
def aware_export(tmp_path_factory):
    """The demo network (aware_unet, demo options at width 8) with its classifier and filters
    fitted on degraded crops of the training photographs, as an aioir safetensors export."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
    from test_export import _perturbed

    from aioir.config.schema import MIOIR_TASKS
    from aioir.demo import demo_model_options
    from aioir.inference.export import save_exported

    options = demo_model_options(8)
    net = _perturbed("aware_unet", options)
    path = tmp_path_factory.mktemp("aware") / "aware.safetensors"
    save_exported(net, path, model_name="aware_unet", options=options, tasks=list(MIOIR_TASKS))
    return path


@pytest.fixture(scope="module")
def aware_server(aware_export):
    """``aioir serve`` on the demo network, with a 96 MB memory budget (large uploads are
    restored in several windows)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "aioir", "serve", str(aware_export), "--port", str(port),
           "--max-memory", "96M", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    with running(proc, port) as base:
        yield base


def _noisy_jpeg(h: int, w: int) -> bytes:
    """A held-out photograph resized to ``w x h``, with Gaussian noise, as a JPEG (quality 90)."""
    from aioir.data.sources import EmbeddedPhotos

    photo = Image.fromarray((EmbeddedPhotos("test")[0] * 255).round().astype(np.uint8))
    a = np.asarray(photo.resize((w, h), Image.BICUBIC), np.float64) / 255
    a = a + np.random.default_rng(0).normal(0, 0.1, a.shape)
    buf = io.BytesIO()
    Image.fromarray((np.clip(a, 0, 1) * 255).round().astype(np.uint8)).save(buf, "JPEG",
                                                                            quality=90)
    return buf.getvalue()


def _softmax_by_hand(export: Path, data: bytes) -> tuple[str, float]:
    """The classifier's most likely class and its probability, from its logits (exp / sum)."""
    from aioir.config.schema import MIOIR_TASKS
    from aioir.inference.reader import load_network

    net, _ = load_network(export)
    a = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32) / 255
    with torch.no_grad():
        logits = net.logits(torch.from_numpy(a).permute(2, 0, 1)[None])[0].double()
    p = torch.exp(logits - logits.max())
    p = p / p.sum()
    names = list(MIOIR_TASKS) + ["clean"]
    return names[int(p.argmax())], float(p.max())


def _post_form(base: str, data: bytes, name: str, **fields: str) -> tuple[int, dict]:
    b = uuid.uuid4().hex
    body = b""
    for key, value in fields.items():
        body += (f'--{b}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                 f"{value}\r\n").encode()
    body += (f'--{b}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
             f"Content-Type: application/octet-stream\r\n\r\n").encode() + data
    body += f"\r\n--{b}--\r\n".encode()
    req = urllib.request.Request(base + "/api/restore", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={b}"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_jpeg_comes_back_as_a_jpeg_with_what_was_detected(aware_server, aware_export):
    data = _noisy_jpeg(120, 160)
    status, answer = _post_form(aware_server, data, "photo.jpg")
    assert status == 200, answer
    assert answer["format"] == "jpeg" and answer["restored"].endswith(".jpg")
    assert answer["download_name"] == "photo_restored.jpg"
    with urllib.request.urlopen(aware_server + answer["restored"]) as r:
        body = r.read()
        assert r.headers["Content-Type"] == "image/jpeg" and body[:3] == b"\xff\xd8\xff"
    assert len(body) == answer["bytes"] and len(body) < 3 * len(data)
    task, probability = _softmax_by_hand(aware_export, data)
    assert answer["detected"]["task"] == task
    assert answer["detected"]["probability"] == pytest.approx(probability, abs=1e-4)
    assert sum(answer["detected"]["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    # the format asked for wins; an unknown one is refused
    status, png = _post_form(aware_server, data, "photo.jpg", format="png")
    assert status == 200 and png["format"] == "png" and png["restored"].endswith(".png")
    status, webp = _post_form(aware_server, data, "photo.jpg", format="webp")
    with urllib.request.urlopen(aware_server + webp["restored"]) as r:
        assert r.headers["Content-Type"] == "image/webp" and r.read()[8:12] == b"WEBP"
    status, answer = _post_form(aware_server, data, "photo.jpg", format="gif")
    assert status == 400 and "unknown output format 'gif'" in answer["error"]


def test_page_shows_detection_zoom_progress_and_format(aware_server, aware_export, browser_page,
                                                       tmp_path):
    page = browser_page.page
    browser_page.open(aware_server + "/")
    page.wait_for_function("document.getElementById('meta').textContent.includes('aware_unet')")
    data = _noisy_jpeg(900, 1400)  # several windows under the 96 MB budget
    src = tmp_path / "street.jpg"
    src.write_bytes(data)
    page.set_input_files("#file", str(src))
    assert page.text_content("#format option[value=auto]") == "the upload's format (JPEG)"
    page.evaluate("""() => { window.seen = [];
        new MutationObserver(() => window.seen.push(document.getElementById('message').textContent))
          .observe(document.getElementById('message'), {childList: true, characterData: true,
                                                        subtree: true}); }""")
    page.click("#restore")
    page.wait_for_function("document.getElementById('after').naturalWidth === 1400",
                           timeout=300_000)
    seen = page.evaluate("window.seen")
    windows = [m for m in seen if " window" in m and " of " in m]
    assert windows, seen  # the page showed the windows restored while it waited
    assert "JPEG" in page.text_content("#details")
    task, probability = _softmax_by_hand(aware_export, data)
    shown = page.text_content("#detected")
    assert page.is_visible("#detected")
    name = "no degradation (clean" if task == "clean" else task
    assert f"The network detected {name}" in shown
    assert f"probability {round(100 * probability)} %" in shown

    # 1:1: the image at its own size in a viewport that pans by dragging
    assert page.evaluate("document.getElementById('after').clientWidth") < 1400
    page.click("#zoom")
    assert page.evaluate("document.getElementById('after').clientWidth") == 1400
    box = page.locator("#viewport").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 200, y - 50, steps=5)
    page.mouse.up()
    assert page.evaluate("document.getElementById('viewport').scrollLeft") == 200
    page.click("#zoom")
    assert page.evaluate("document.getElementById('after').clientWidth") < 1400

    # the download is a JPEG, as the upload was
    with page.expect_download() as info:
        page.click("#download")
    assert info.value.suggested_filename == "street_restored.jpg"
    errors = browser_page.console_errors + browser_page.page_errors
    assert errors == [], errors
