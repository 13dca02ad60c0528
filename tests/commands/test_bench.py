"""``aioir bench`` on the command line: help text and clear errors before anything is trained."""

from __future__ import annotations

import pytest

from aioir.cli import main


def test_help_lists_every_command_and_the_bench_options(capsys):
    with pytest.raises(SystemExit) as top:
        main(["--help"])
    assert top.value.code == 0 and "bench" in capsys.readouterr().out
    with pytest.raises(SystemExit) as sub:
        main(["bench", "--help"])
    assert sub.value.code == 0
    text = capsys.readouterr().out
    for option in ("--strategies", "--seeds", "--steps", "--baseline", "--jobs", "--threads",
                   "--strategy-options", "--set", "--out"):
        assert option in text


@pytest.mark.parametrize("argv, message", [
    (["no-such.yaml"], "no such config file: no-such.yaml"),
    (["demo:quick", "--jobs", "many"], "--jobs must be comma-separated integers, got 'many'"),
    (["demo:quick", "--jobs", "0"], "--jobs must be 'auto' or a positive integer"),
    (["demo:quick", "--seeds", "0"], "--seeds N needs N >= 1"),
    (["demo:quick", "--steps", "1e3"], "--steps must be comma-separated integers"),
    (["demo:quick", "--strategy-options", "art=3"], "must look like 'strategy.option=value'"),
    (["demo:quick", "--strategy-options", "ue.tau=3"], "names 'ue', which is not benched"),
    (["demo:quick", "--set", "optim.learning_rate=1"], "learning_rate"),
])
def test_bad_arguments_are_one_clear_line(argv, message, tmp_path, capsys):
    assert main(["bench", *argv, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aioir bench: error: ") and message in err
    assert not (tmp_path / "b").exists()
