"""benchmarks/doc_tables.py: the documented demo tables are what a demo run wrote.

The last test is the CI check of issue 26: it runs ``aioir demo --quick`` as a user would and
fails when the ``--quick`` tables committed in README.md / docs/benchmarks.md differ from what
it printed, to the last digit, so a change of the demo's numbers cannot land without its tables
(regenerate them with the command the failure prints).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    path = ROOT / "benchmarks" / "doc_tables.py"
    spec = importlib.util.spec_from_file_location("doc_tables", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


doc_tables = _load()
TASKS = ("sr", "blur", "noise", "jpeg", "rain", "haze", "dark")


def _row(psnr: float, ssim: float) -> dict:
    return {"per_task": {t: {"psnr": psnr, "ssim": ssim} for t in TASKS},
            "average": {"psnr": psnr, "ssim": ssim}}


def _results(mixed: float) -> dict:
    rows = {"degraded input": _row(20.0, 0.5), "mixed": _row(mixed, 0.75)}
    iv = {"estimate": 0.0, "lo": 0.0, "hi": 0.0, "excludes_zero": False}
    verdict = {"mixed": {"n_tasks_beating_input": 7, "average_gain_over_input": mixed - 20.0}}
    return {"rows": rows, "whole_rows": rows, "verdict": verdict, "whole_verdict": verdict,
            "vs_mixed": {}, "_iv": iv}


# the table results_table prints for _results(24.125): written out by hand (2 decimals for PSNR,
# 4 for SSIM, right-aligned columns at least as wide as the widest cell)
_CELLS = {20.0: "20.00/0.5000", 24.125: "24.12/0.7500", 24.13: "24.13/0.7500"}


def _expected(mixed: float) -> str:
    head = "| method         |" + "".join(f" {t:>12} |" for t in (*TASKS, "Average"))
    rule = "|:---------------|" + "-------------:|" * 8
    row = lambda name, v: f"| {name:<14} |" + f" {_CELLS[v]} |" * 8
    return "\n".join([head, rule, row("degraded input", 20.0), row("mixed", mixed)])


def _doc(body: str = "| old |") -> str:
    return (f"intro\n\n<!-- table:demo-quick-crops -->\n\n{body}\n\n<!-- /table -->\n\ntext\n\n"
            "<!-- table:demo-crops -->\n\n| default, kept |\n\n<!-- /table -->\n")


def _repo(tmp_path: Path, text: str) -> Path:
    (tmp_path / "docs").mkdir(parents=True)
    for rel in doc_tables.DOCS:
        (tmp_path / rel).write_text(text)
    return tmp_path


def _demo_folder(tmp_path: Path, mixed: float) -> Path:
    out = tmp_path / "demo" / "quick"
    out.mkdir(parents=True)
    (out / "demo_results.json").write_text(json.dumps(_results(mixed)))
    return out.parent


def test_fill_writes_the_marked_table_and_leaves_other_budgets(tmp_path):
    text, skipped = doc_tables.fill(_doc(), {"quick": _results(24.125)}, "x.md")
    assert skipped == ["demo-crops"]
    want = _doc(_expected(24.125)).replace("| default, kept |", "| default, kept |")
    assert text == want


def test_heldout_table_comes_from_heldout_results_and_is_left_alone_without_them(tmp_path):
    doc = "<!-- table:demo-heldout -->\n\n| old |\n\n<!-- /table -->\n"
    out = tmp_path / "demo" / "default"
    out.mkdir(parents=True)
    (out / "demo_results.json").write_text(json.dumps(_results(24.13)))
    results = doc_tables.load_results(out.parent)
    text, skipped = doc_tables.fill(doc, results, "x.md")
    assert skipped == ["demo-heldout"] and text == doc      # no heldout_results.json yet
    (out / "heldout_results.json").write_text(json.dumps({"rows": _results(24.125)["rows"]}))
    text, skipped = doc_tables.fill(doc, doc_tables.load_results(out.parent), "x.md")
    assert not skipped
    assert text == f"<!-- table:demo-heldout -->\n\n{_expected(24.125)}\n\n<!-- /table -->\n"


def test_summary_lines_round_as_the_demo_prints(tmp_path):
    r = _results(24.125)
    r["vs_mixed"] = {"tur": {"crops": {"estimate": -0.344, "lo": -0.775, "hi": 0.031},
                             "whole": {"estimate": -0.005, "lo": -0.1, "hi": 0.2}}}
    assert doc_tables.summary_text(r).splitlines() == [
        "- tur - mixed: -0.34 [-0.78, +0.03] dB on the crops, -0.01 [-0.10, +0.20] dB on the "
        "whole photos",
        "- mixed: beats the degraded input on 7/7 tasks of the crops (+4.12 dB) and 7/7 of the "
        "whole photos (+4.12 dB)",
    ]


def test_check_fails_on_a_changed_number_and_regenerate_fixes_it(tmp_path, capsys):
    root = _repo(tmp_path, _doc(_expected(24.125)))
    same = _demo_folder(tmp_path / "a", 24.125)
    assert doc_tables.main([str(same), "--check", "--root", str(root)]) == 0
    moved = _demo_folder(tmp_path / "b", 24.13)  # one digit moves
    assert doc_tables.main([str(moved), "--check", "--root", str(root)]) == 1
    out = capsys.readouterr()
    assert "-| mixed          | 24.12/0.7500" in out.out
    assert "+| mixed          | 24.13/0.7500" in out.out
    assert "doc_tables.py" in out.err
    assert (root / "README.md").read_text() == _doc(_expected(24.125))  # --check writes nothing
    assert doc_tables.main([str(moved), "--root", str(root)]) == 0
    assert (root / "README.md").read_text() == _doc(_expected(24.13))
    assert doc_tables.main([str(moved), "--check", "--root", str(root)]) == 0


def test_bad_inputs_are_one_line_messages(tmp_path, capsys):
    root = _repo(tmp_path, _doc())
    assert doc_tables.main([str(tmp_path / "nothing"), "--root", str(root)]) == 2
    assert "no demo_results.json" in capsys.readouterr().err
    bad = _repo(tmp_path / "r2", "<!-- table:demo-typo -->\n| x |\n<!-- /table -->\n")
    with pytest.raises(SystemExit, match="unknown table marker 'demo-typo'"):
        doc_tables.main([str(_demo_folder(tmp_path / "c", 24.125)), "--root", str(bad)])


def test_every_marker_in_the_docs_is_known_and_the_quick_tables_are_there():
    names = set()
    for rel in doc_tables.DOCS:
        names |= {m.group("name") for m in doc_tables._BLOCK.finditer((ROOT / rel).read_text())}
    assert names <= set(doc_tables.TABLES), names - set(doc_tables.TABLES)
    assert {"demo-quick-crops", "demo-quick-whole", "demo-crops", "demo-whole"} <= names


@pytest.mark.timeout(900)
def test_the_quick_demo_prints_the_documented_tables(tmp_path):
    """The CI check: ``aioir demo --quick`` (about 2 minutes on 2 cores) must print the tables
    committed in README.md and docs/benchmarks.md, to the last digit."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])}
    run = subprocess.run([sys.executable, "-m", "aioir", "demo", "--quick", "--out",
                          str(tmp_path)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    check = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "doc_tables.py"),
                            str(tmp_path), "--only", "quick", "--check"], env=env,
                           capture_output=True, text=True)
    import torch

    assert check.returncode == 0, (
        "aioir demo --quick printed other numbers than the tables committed in the docs; if the "
        "change is intended, regenerate them (python benchmarks/doc_tables.py DEMO_OUT after "
        "aioir demo --quick --out DEMO_OUT, and the default demo likewise). The committed tables "
        "come from torch's AVX512 CPU kernels; this machine runs "
        f"{torch.backends.cpu.get_cpu_capability()} (docs/benchmarks.md, \"Are the demo's tables "
        "reproducible?\"):\n" + check.stdout[-4000:] + check.stderr[-1000:])
