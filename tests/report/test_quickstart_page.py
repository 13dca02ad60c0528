"""The README's Quickstart page as a new user gets it: `pip install -e .` then `aioir demo`.

The README promises "one offline HTML page with the restorations side by side, the task weights
and losses over training and TUR's uncertainty maps", and the demo prints a whole-photograph
table. Here: matplotlib and tensorboard are core dependencies (a plain `pip install -e .`
installs them; they were extras once, and the page had 0 figures), and a tiny demo's page,
opened in headless Chromium, shows each promised figure and the whole-photograph table."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared browser module
from browser import browser_page  # noqa: F401  (pytest fixture)

ROOT = Path(__file__).resolve().parents[2]

#: what the README's Quickstart promises on the page, as figure ids of the report
PROMISED = {"restorations": "restorations side by side",
            "train_task_weight": "the task weights over training",
            "train_task_loss": "the losses over training",
            "uncertainty_maps": "TUR's uncertainty maps"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_quickstart_install_brings_what_the_page_needs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = _names(project["dependencies"])
    assert {"matplotlib", "tensorboard"} <= core
    readme = (ROOT / "README.md").read_text()
    quickstart = readme[readme.index("## Quickstart"):readme.index("### What the demo shows")]
    assert "pip install -e . && aioir demo" in quickstart
    assert "aioir[" not in readme  # aioir is not on PyPI: no `pip install 'aioir[extra]'`
    for phrase in ("restorations side by side", "task weights", "losses over training",
                   "uncertainty maps"):
        assert phrase in " ".join(quickstart.split()), phrase


def test_the_demo_page_shows_every_promised_figure(tmp_path, monkeypatch, browser_page):  # noqa: F811
    from aioir import demo

    tiny = demo.DemoBudget(steps=2, patch_size=24, batch_size=7, lr=1e-3, width=8,
                           val_max_size=32, whole_max_size=32)
    monkeypatch.setitem(demo.BUDGETS, "quick", tiny)
    res = demo.run_demo(tmp_path, quick=True, strategies=("mixed", "tur"), jobs=2,
                        progress=False)
    report = res["report"]
    drawn = {f.id: f for f in report.drawn}
    assert set(PROMISED) <= set(drawn), {f.id: f.skipped for f in report.skipped}
    browser_page.open(report.html)
    assert browser_page.broken_images() == [] and browser_page.problems == []
    shown = {img["alt"] for img in browser_page.page.evaluate(
        "() => [...document.images].map(i => ({alt: i.alt, w: i.naturalWidth}))")
        if img["w"] > 0}
    assert {drawn[f].title for f in PROMISED} <= shown
    headings = browser_page.page.locator("h2").all_inner_texts()
    assert "Whole photographs" in headings
    text = browser_page.page.locator("body").inner_text()
    assert re.search(r"tur vs mixed \(dB\)\s", text)  # mixed: the default baseline
