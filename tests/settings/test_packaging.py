"""The settings ship inside the package: a non-editable install, away from the repository,
finds every setting (presets read with importlib.resources)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_an_installed_copy_finds_every_setting(tmp_path: Path):
    from aioir.settings import names

    src = tmp_path / "project"
    src.mkdir()
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__",
                                                                             "*.egg-info"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src / f)
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=280)
    assert install.returncode == 0, install.stderr
    assert (target / "aioir" / "settings" / "presets" / "mioir7.yaml").is_file()
    probe = ("import aioir, sys; from aioir.settings import get_setting, names; "
             f"assert aioir.__file__.startswith({str(target)!r}), aioir.__file__; "
             "[get_setting(n) for n in names()]; print(' '.join(names()))")
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    found = run.stdout.split()
    assert found == names() and {"embedded", "folder", "mioir7", "three_task"} <= set(found)
