"""A real headless Chromium for tests, driven by Playwright: pages seen as a person sees them.

Uses the system's Chromium (Debian's ``chromium`` package; ``.ci/run`` installs it when apt is
there), never a browser downloaded by ``playwright install``. Where Playwright or Chromium is
missing, the ``browser_page`` fixture skips the test and says which and how to install it.

Use from a test module::

    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[N]))  # the tests/ folder
    from browser import browser_page  # noqa: F401  (a pytest fixture)

    def test_page(browser_page):
        browser_page.open(path_or_url)
        assert browser_page.broken_images() == []
        assert browser_page.console_errors == []

``open_page()`` is the same as a context manager, for use outside a fixture. The browser runs
offline by default (no network at all): a page that needs anything but itself, ``file:`` and
``data:`` resources shows up in ``external_requests`` and fails to load it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: set AIOIR_CHROMIUM to use another Chromium binary
CHROMIUM_ENV = "AIOIR_CHROMIUM"
#: headless, as root in a container, and quiet: no background connections to Google's hosts
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The Chromium binary: ``$AIOIR_CHROMIUM``, else ``/usr/bin/chromium``, else on ``PATH``."""
    given = os.environ.get(CHROMIUM_ENV)
    if given:
        return given if Path(given).is_file() else None
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


def unavailable_reason() -> str | None:
    """Why no browser test can run here, or ``None`` when Playwright and Chromium are there."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright; it is in aioir[test])"
    if chromium_path() is None:
        where = os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium or chromium on PATH"
        return f"no Chromium found ({where}); install it with apt-get install chromium"
    return None


@dataclass
class BrowserPage:
    """A Playwright page with what went wrong on it collected as it happens."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def open(self, target: str | os.PathLike[str], timeout_ms: int = 30_000) -> None:
        """Load a file path or URL and wait until it and its images have loaded."""
        is_url = isinstance(target, str) and "://" in target
        url = target if is_url else Path(target).resolve().as_uri()
        self.page.goto(url, wait_until="load", timeout=timeout_ms)

    def images(self) -> list[dict[str, Any]]:
        """Every ``<img>``: its source (first 80 characters), whether it loaded, its size."""
        return self.page.evaluate(
            """() => Array.from(document.images).map(img => ({
                   src: img.getAttribute('src').slice(0, 80), complete: img.complete,
                   width: img.naturalWidth, height: img.naturalHeight}))"""
        )

    def broken_images(self) -> list[str]:
        """Sources of the images that did not load (not complete, or zero natural width)."""
        return [i["src"] for i in self.images() if not i["complete"] or i["width"] == 0]

    @property
    def problems(self) -> list[str]:
        """Console errors, uncaught page errors and failed requests, in one list."""
        return [*self.console_errors, *self.page_errors, *self.failed_requests]


@contextmanager
def open_page(
    *, offline: bool = True, viewport: tuple[int, int] = (1280, 900)
) -> Iterator[BrowserPage]:
    """Launch headless Chromium and yield a :class:`BrowserPage`; closes everything after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                offline=offline, viewport={"width": viewport[0], "height": viewport[1]}
            )
            page = context.new_page()
            seen = BrowserPage(page)
            page.on("console", lambda m: m.type == "error" and seen.console_errors.append(m.text))
            page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
            page.on("requestfailed", lambda r: seen.failed_requests.append(
                f"{r.url[:80]}: {r.failure}"))
            page.on("request", lambda r: r.url.startswith(("data:", "file:", "about:"))
                    or seen.external_requests.append(r.url))
            yield seen
        finally:
            browser.close()


@pytest.fixture
def browser_page() -> Iterator[BrowserPage]:
    """A :class:`BrowserPage` in offline headless Chromium; skips (saying why) without one."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with open_page() as page:
        yield page
