"""Boundaries a newcomer can see: which file imports which (lazy imports inside functions
count too), read from the source with ``ast``.

The floors are docs/architecture.md's "Layers" table, read from the page: a file imports only
files on its own floor or below, and no files import each other in a circle (directly, or through
others, package faces included: importing ``a.b.c`` runs ``a/b/__init__.py``). ``engine`` and
``inference`` are peers: neither imports the other (the checkpoint format lives in
``aioir.checkpoint``); ``settings`` only describes and assembles data.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "aioir"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


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
                candidate = PKG.parent / Path(*f"{mod}.{a.name}".split("."))
                if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
                    out.add(f"{mod}.{a.name}")
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


def _file_of(mod: str, graph: dict[str, set[str]]) -> str:
    """The file (module name) an imported name lives in: ``aioir.models.MODELS`` -> ``aioir.models``."""
    while mod not in graph and "." in mod:
        mod = mod.rsplit(".", 1)[0]
    return mod


def _ancestors(mod: str) -> set[str]:
    parts = mod.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _edges(graph: dict[str, set[str]],
           allowed: set[tuple[str, str]] | frozenset = frozenset()) -> dict[str, set[str]]:
    """File -> the files its imports run: the imported file and the package faces
    (``__init__.py``) above it, except the faces of the importer's own packages (already running
    when it runs, unless it imports one by name).
    An ``allowed`` import (importer, imported file) is left out with the faces it runs."""
    out: dict[str, set[str]] = {}
    for mod, deps in graph.items():
        files: set[str] = set()
        for dep in deps:
            target = _file_of(dep, graph)
            if (mod, target) in allowed:
                continue
            files |= {target} | {a for a in _ancestors(target) - _ancestors(mod) if a in graph}
        out[mod] = files - {mod}
    return out


#: edges allowed while another branch removes them (none today; each names its issue)
ALLOWED_UPWARD: set[tuple[str, str]] = set()


def _floors() -> dict[str, int]:
    """docs/architecture.md's "Layers" table: module prefix -> floor (1 = bottom)."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    floors: dict[str, int] = {}
    for row in re.findall(r"^\| (\d+) [a-z]+ \| (.+) \|$", section, flags=re.M):
        for name in re.findall(r"`(aioir(?:\.[\w.]+)?)`", row[1]):
            assert name not in floors, f"{name} is listed twice in the Layers table"
            floors[name] = int(row[0])
    return floors


FLOORS = _floors()


def _floor(mod: str) -> int:
    best = max((p for p in FLOORS if _within(mod, p)), key=len, default=None)
    assert best is not None, f"{mod} is on no floor of docs/architecture.md's Layers table"
    return FLOORS[best]


def test_every_file_is_on_a_floor():
    assert len(set(FLOORS.values())) >= 8, FLOORS  # the table was read
    missing = [m for m in GRAPH if not any(_within(m, p) for p in FLOORS)]
    assert not missing, f"files on no floor of {ARCHITECTURE.name}: {missing}"


def test_no_file_imports_a_higher_floor():
    bad = sorted(
        f"{mod} (floor {_floor(mod)}) imports {dep} (floor {_floor(dep)})"
        for mod, deps in _edges(GRAPH, ALLOWED_UPWARD).items() for dep in deps
        if _floor(dep) > _floor(mod)
    )
    assert not bad, "\n".join(bad)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one file (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycles_are_found():
    """The cycle finder on a known graph (a guard against a vacuous pass)."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(edges) == [["a", "b", "c"]]
    assert _edges({"p": set(), "p.q": {"p.r.s"}, "p.r": set(), "p.r.s": set()})["p.q"] == \
        {"p.r", "p.r.s"}


def test_no_import_cycle_between_files():
    cycles = _cycles(_edges(GRAPH, ALLOWED_UPWARD))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


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
    assert "aioir.checkpoint" in GRAPH["aioir.inference.reader"]
    assert "aioir.engine.run" in GRAPH["aioir.commands.train"]  # imported inside run()
