"""Rendered table text, checked character by character."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aioir.metrics import evaluate_pairs
from aioir.report import (
    format_cell,
    latex_table,
    markdown_table,
    psnr_gains,
    results_table,
    validation_table,
)


def _row(scores: dict[str, tuple[float, float]]) -> dict:
    per_task = {t: {"psnr": p, "ssim": s, "count": 1} for t, (p, s) in scores.items()}
    avg_p = sum(p for p, _ in scores.values()) / len(scores)
    avg_s = sum(s for _, s in scores.values()) / len(scores)
    return {"per_task": per_task, "average": {"psnr": avg_p, "ssim": avg_s, "count": len(scores)}}


ROWS = {
    "degraded input": _row({"noise": (20.0, 0.5), "rain": (25.0, 0.7)}),
    "mixed": _row({"noise": (30.0, 0.8), "rain": (32.0, 0.9)}),
    "tur": _row({"noise": (30.5, 0.81), "rain": (31.9, 0.9)}),
    "art": _row({"noise": (31.0, 0.82)}),  # no rain result
}


def test_markdown_table_layout_and_escaping() -> None:
    text = markdown_table(["a", "b|c"], [["x", 1], ["longer", 22.5]], align="lr")
    assert text == (
        "| a      | b\\|c |\n"
        "|:-------|-----:|\n"
        "| x      |    1 |\n"
        "| longer | 22.5 |"
    )
    with pytest.raises(ValueError, match="2 cells"):
        markdown_table(["a"], [["x", "y"]])
    with pytest.raises(ValueError, match="align"):
        markdown_table(["a", "b"], [], align="lx")


def test_results_table_with_gains() -> None:
    text = results_table(ROWS, ["noise", "rain"], baseline="mixed", protocol="Protocol 'mioir'.")
    expected = "\n".join(
        [
            "| method            |        noise |         rain |      Average |",
            "|:------------------|-------------:|-------------:|-------------:|",
            "| degraded input    | 20.00/0.5000 | 25.00/0.7000 | 22.50/0.6000 |",
            "| mixed             | 30.00/0.8000 | 32.00/0.9000 | 31.00/0.8500 |",
            "| tur               | 30.50/0.8100 | 31.90/0.9000 | 31.20/0.8550 |",
            "| art               | 31.00/0.8200 |            - | 31.00/0.8200 |",
            "| tur vs mixed (dB) |        +0.50 |        -0.10 |        +0.20 |",
            "| art vs mixed (dB) |        +1.00 |            - |        +0.00 |",
            "",
            "Protocol 'mioir'.",
        ]
    )
    assert text == expected


def test_psnr_gains_values() -> None:
    gains = psnr_gains(ROWS, "mixed", ["noise", "rain"])
    assert list(gains) == ["tur", "art"]  # neither the baseline nor the degraded input
    assert gains["tur"]["noise"] == pytest.approx(0.5)
    assert gains["tur"]["rain"] == pytest.approx(-0.1)
    assert gains["tur"]["Average"] == pytest.approx(31.2 - 31.0)
    assert math.isnan(gains["art"]["rain"])
    with pytest.raises(KeyError, match="baseline 'uw'"):
        psnr_gains(ROWS, "uw", ["noise"])


def test_format_cell_rounding() -> None:
    assert format_cell({"psnr": 29.995, "ssim": 0.99996}) == "30.00/1.0000"
    assert format_cell({"psnr": 28.004}) == "28.00"


def test_validation_table_from_a_real_evaluation() -> None:
    gt = np.full((20, 20, 3), 0.5)
    samples = [(gt, gt, "rain", "a.png"), (np.full_like(gt, 0.6), gt, "noise", "b.png")]
    result = evaluate_pairs(lambda x: x, samples, "mioir", ["noise", "rain"], progress=False)
    text = validation_table(result)
    # 153 vs 128 everywhere: PSNR 20 log10(255 / 25) = 20.17 dB; SSIM of two flat images:
    # ((2*153*128 + C1) (0 + C2)) / ((153^2 + 128^2 + C1) (0 + C2)), C1 = (0.01*255)^2
    c1 = (0.01 * 255) ** 2
    s = (2 * 153 * 128 + c1) / (153**2 + 128**2 + c1)
    assert text.splitlines()[:4] == [
        "| task    | images |  PSNR |   SSIM |",
        "|:--------|-------:|------:|-------:|",
        f"| noise   |      1 | 20.17 | {s:.4f} |",
        "| rain    |      1 |   inf | 1.0000 |",
    ]
    assert text.splitlines()[4] == "| Average |      2 |   inf | " + f"{(s + 1) / 2:.4f} |"
    assert text.splitlines()[-1].startswith("Protocol 'mioir': PSNR/SSIM on RGB, 4-px border crop")


def test_latex_table() -> None:
    assert latex_table(["m", "a_b"], [["x&y", "1"]]) == (
        "\\begin{tabular}{lr}\n\\toprule\nm & a\\_b \\\\\n\\midrule\nx\\&y & 1 \\\\\n"
        "\\bottomrule\n\\end{tabular}"
    )
