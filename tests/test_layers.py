"""Boundaries a newcomer can see: which package imports which (lazy imports inside functions
count too), read from the source with ``ast``.

Dependencies point one way: cli -> commands -> engine / inference -> settings -> data, models,
strategies, metrics, losses -> degradations, config. ``engine`` and ``inference`` are peers:
neither imports the other (the checkpoint format lives in ``aioir.checkpoint``); ``settings``
only describes, with no import cycle among its modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "aioir"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``aioir.*`` module ``path`` imports, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("aioir")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("aioir"):
                continue
            out.add(mod)
            for a in node.names:  # `from aioir.settings import spec` imports a module too
                candidate = f"{mod}.{a.name}"
                if (PKG.parent / Path(*candidate.split("."))).with_suffix(".py").is_file():
                    out.add(candidate)
    return out


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PKG.rglob("*.py")}


def _within(mod: str, package: str) -> bool:
    return mod == package or mod.startswith(package + ".")


GRAPH = _graph()

#: package -> packages it must never import
FORBIDDEN = {
    "aioir.engine": ["aioir.inference", "aioir.commands", "aioir.cli", "aioir.demo"],
    "aioir.inference": ["aioir.engine", "aioir.commands", "aioir.cli", "aioir.demo"],
    "aioir.settings": ["aioir.engine", "aioir.inference", "aioir.commands", "aioir.cli",
                       "aioir.demo", "aioir.strategies", "aioir.models"],
    "aioir.data": ["aioir.settings", "aioir.engine", "aioir.inference", "aioir.commands",
                   "aioir.cli", "aioir.demo", "aioir.strategies", "aioir.models"],
    "aioir.models": ["aioir.engine", "aioir.inference", "aioir.settings", "aioir.data",
                     "aioir.strategies", "aioir.commands", "aioir.cli"],
    "aioir.strategies": ["aioir.engine", "aioir.inference", "aioir.settings", "aioir.data",
                         "aioir.commands", "aioir.cli"],
    "aioir.metrics": ["aioir.engine", "aioir.inference", "aioir.settings", "aioir.commands"],
    "aioir.degradations": ["aioir.data", "aioir.engine", "aioir.settings", "aioir.models",
                           "aioir.commands"],
    "aioir.config": ["aioir.engine", "aioir.settings", "aioir.data", "aioir.models",
                     "aioir.commands"],
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_point_one_way(package: str):
    bad = sorted(
        f"{mod} imports {dep}"
        for mod, deps in GRAPH.items() if _within(mod, package)
        for dep in deps for banned in FORBIDDEN[package] if _within(dep, banned)
    )
    assert not bad, "\n".join(bad)


def test_no_import_cycle_inside_settings():
    nodes = {m for m in GRAPH if _within(m, "aioir.settings")}
    edges = {m: {d for d in GRAPH[m] if d in nodes and d != m} for m in nodes}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in edges[m]:
            assert state.get(d) != 1, "import cycle: " + " -> ".join(path + [m, d])
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in sorted(nodes):
        if m not in state:
            visit(m, [])
    assert "aioir.settings.spec" in nodes and len(nodes) >= 5


def test_the_graph_is_read():
    """The reader sees lazy imports (a guard against a vacuous pass)."""
    assert "aioir.engine.build" in GRAPH["aioir.engine.trainer"] or any(
        _within(d, "aioir.models") for d in GRAPH["aioir.engine.trainer"])
    assert "aioir.checkpoint" in GRAPH["aioir.inference.export"]
