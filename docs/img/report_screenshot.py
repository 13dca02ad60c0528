"""Screenshots of an HTML report in headless Chromium, for docs/report.md.

    python docs/img/report_screenshot.py aioir-demo/quick/report/report.html docs/img

writes ``report-top.png`` (title, table, first figure) and ``report-grid.png`` (the first rows
of the restoration grid), reduced to a 256-colour palette to stay small. Uses the system's
Chromium through the tests' browser helper (tests/browser.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from browser import open_page


def _small(path: Path) -> None:
    from PIL import Image

    Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
        path, optimize=True)


def main(page_path: str, out_dir: str) -> None:
    out = Path(out_dir)
    with open_page(viewport=(1200, 1000)) as seen:
        seen.open(page_path)
        assert seen.broken_images() == [] and seen.problems == [], seen.problems
        seen.page.screenshot(path=str(out / "report-top.png"))
        top = seen.page.evaluate("document.getElementById('restorations').offsetTop")
        seen.page.screenshot(path=str(out / "report-grid.png"), full_page=True,
                             clip={"x": 0, "y": top, "width": 1030, "height": 760})
    for name in ("report-top.png", "report-grid.png"):
        _small(out / name)
        print(out / name, (out / name).stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
