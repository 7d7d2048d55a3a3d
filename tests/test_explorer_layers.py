# SPDX-License-Identifier: MIT
"""The explorer's modules form layers, each importing only its own layer or those below it,
without an import circle (imports inside functions and ``TYPE_CHECKING`` blocks count: a
function-local import hides a circle, it does not remove it)."""

from __future__ import annotations

import ast
from pathlib import Path

EXPLORER = Path(__file__).resolve().parents[1] / "explorer"

# Each module's layer, bottom to top (explorer/README.md says what each layer does).
LAYERS: dict[str, list[str]] = {
    "compute": ["pipeline", "analysis", "network_compute"],
    "drawing": ["render", "network_render", "rules_render", "export_files", "explanations"],
    "state": ["state", "link"],
    "outputs": ["outputs"],
    "actions": ["handlers"],
    "page": ["page", "wiring", "sections", "network_page", "app", "__main__"],
}
ORDER = list(LAYERS)
LAYER_OF = {module: layer for layer, modules in LAYERS.items() for module in modules}


def import_graph(folder: Path) -> dict[str, set[str]]:
    """Module -> the explorer modules it imports, anywhere in its file."""
    modules = {path.stem for path in folder.glob("*.py") if path.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for module in modules:
        tree = ast.parse((folder / f"{module}.py").read_text())
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "explorer" and len(parts) > 1 and parts[1] in modules:
                    found.add(parts[1])
        graph[module] = found - {module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles (each as a path that comes back to its start)."""
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                found.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_every_module_has_a_layer() -> None:
    assert set(import_graph(EXPLORER)) == set(LAYER_OF)


def test_no_import_circle() -> None:
    assert circles(import_graph(EXPLORER)) == []


def test_a_layer_imports_only_its_own_and_those_below() -> None:
    upward = [
        f"{module} ({LAYER_OF[module]}) imports {imported} ({LAYER_OF[imported]})"
        for module, imports in import_graph(EXPLORER).items()
        for imported in imports
        if ORDER.index(LAYER_OF[imported]) > ORDER.index(LAYER_OF[module])
    ]
    assert upward == []


def test_the_circle_finder_finds_hidden_circles(tmp_path: Path) -> None:
    """A circle through a function-local import and one through ``TYPE_CHECKING`` (the two
    that issue 22 found: app <-> sections, handlers <-> link)."""
    (tmp_path / "app.py").write_text("from explorer import sections\n")
    (tmp_path / "sections.py").write_text("def f():\n    from explorer.app import COMPUTE\n")
    (tmp_path / "handlers.py").write_text("from explorer import link\n")
    (tmp_path / "link.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from explorer.handlers import View\n"
    )
    found = {frozenset(circle) for circle in circles(import_graph(tmp_path))}
    assert found == {frozenset({"app", "sections"}), frozenset({"handlers", "link"})}
