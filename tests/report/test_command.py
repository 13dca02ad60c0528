"""``aioir report`` on the command line: what it prints and how it refuses."""

from __future__ import annotations

from aioir.cli import main


def test_report_command_writes_and_says_where(bench_dir, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(bench_dir / "mixed"), "--out", str(out), "--no-figures"]) == 0
    printed = capsys.readouterr().out
    assert "1 method(s) from 2 run folder(s)" in printed
    assert f"Report: {out / 'report.html'}" in printed
    assert (out / "report.html").is_file() and (out / "results.tex").is_file()


def test_report_command_errors_are_one_line(bench_dir, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "thesis.tex").write_text("%")
    assert main(["report", str(bench_dir), "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aioir report: error: refusing to write the report into")
    assert "thesis.tex" in err and "Traceback" not in err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
