"""The scripts under benchmarks/ (the commands beside the figures in the docs) import only names
that the package still has: a module moved in a refactor breaks a script that no test runs
(``heldout_diagnosis/crops.py`` imported ``build_test_sets`` from ``aioir.engine.build`` long
after it had moved to ``aioir.settings.assemble``)."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").rglob("*.py"))


def aioir_imports(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` of every ``from aioir... import name`` in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "aioir":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names
                      if alias.name.split(".")[0] == "aioir"]
    return found


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) > 20 and any(aioir_imports(p) for p in SCRIPTS)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_aioir_name_a_script_imports_exists(path):
    for module, name in aioir_imports(path):
        mod = importlib.import_module(module)
        if name and not hasattr(mod, name):
            importlib.import_module(f"{module}.{name}")  # a submodule, or ImportError names it
