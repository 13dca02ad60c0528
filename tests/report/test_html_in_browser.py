"""The HTML report as a person sees it: opened in a real headless Chromium, offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared browser module
from browser import browser_page  # noqa: F401  (pytest fixture)

from aioir.report.build import make_report


def test_every_figure_loads_offline_without_console_errors(bench_dir, tmp_path, browser_page):  # noqa: F811
    out = make_report([bench_dir], tmp_path / "report", baseline="mixed").out
    figures = json.loads((out / "report.json").read_text())["figures"]
    page = out / "report.html"
    browser_page.open(page)
    images = browser_page.images()
    assert len(images) == len(figures) == 9
    assert browser_page.broken_images() == []
    assert all(i["src"].startswith("data:image/png;base64,") for i in images)
    # each image is shown at the size of its PNG file
    from PIL import Image

    for img, fig in zip(images, figures):
        assert (img["width"], img["height"]) == Image.open(out / fig["file"]).size, fig["id"]
    assert browser_page.problems == []
    assert browser_page.external_requests == []
    assert browser_page.page.title().startswith("aioir report")
    headers = browser_page.page.locator("table").first.locator("th").all_inner_texts()
    assert headers == ["method", "seeds", "noise", "dark", "jpeg", "Average", "params",
                       "MACs @256x256", "ms @256x256"]
    # the same page still opens with every figure once copied alone elsewhere (self-contained)
    alone = tmp_path / "elsewhere" / "copy.html"
    alone.parent.mkdir()
    alone.write_bytes(page.read_bytes())
    browser_page.open(alone)
    assert browser_page.broken_images() == [] and len(browser_page.images()) == 9
    assert browser_page.problems == [] and browser_page.external_requests == []


def test_the_checks_catch_a_broken_page(tmp_path, browser_page):  # noqa: F811 - the fixture
    """The same checks on a page that is broken in each way they look for."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><title>bad</title></head><body>"
        '<img src="data:image/png;base64,AAAA">'  # not a PNG
        '<img src="https://example.invalid/x.png">'  # needs the network
        "<script>console.error('boom')</script></body></html>"
    )
    browser_page.open(bad)
    assert len(browser_page.broken_images()) == 2
    assert browser_page.external_requests == ["https://example.invalid/x.png"]
    assert "boom" in browser_page.console_errors


def test_without_a_browser_the_reason_names_what_to_install(monkeypatch, tmp_path):
    import browser

    monkeypatch.setenv(browser.CHROMIUM_ENV, str(tmp_path / "no-chromium"))
    reason = browser.unavailable_reason()
    assert reason is not None and "apt-get install chromium" in reason
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    assert "pip install playwright" in browser.unavailable_reason()
