# SPDX-License-Identifier: MIT
"""The library's layout, read from its source with ``ast`` (every import statement counts,
also those inside functions): no import cycle; the folders' directions (``evaluation`` never
imports ``training``; nothing but the commands imports ``gocor_lite.cli``; nothing imports the
app); no module loose at the root; a file name means one thing."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "gocor_lite"

#: What may sit at the root of gocor_lite: the re-exports and the argument checks.
ROOT_MODULES = {"__init__", "_checks"}
#: A topic module of the exercises is named after the topic it drills (the module it grades
#: against, or the notebook), so that ``exercises/correlation.py`` holds the exercises on
#: correlation: the same name for the same subject, from the exercises' side.
EXERCISE_TOPICS = "exercises"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(LIBRARY.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """The gocor_lite modules (or packages, standing for their ``__init__``) a file imports:
    ``from gocor_lite.core import features`` imports ``gocor_lite.core.features``, ``from
    gocor_lite.core.features import x`` imports ``gocor_lite.core.features``."""
    found: set[str] = set()

    def add(name: str) -> None:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                add(child if child in MODULES else node.module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
    return found


def import_graph() -> dict[str, set[str]]:
    return {
        name: {target for target in imported_modules(path) if target != name}
        for name, path in MODULES.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_graph_is_read_from_the_files():
    graph = import_graph()
    assert "gocor_lite.core.correlation" in graph["gocor_lite.gocor.modules"]
    assert "gocor_lite.core.features" in graph["gocor_lite.core.volumes"]
    # a function-local import counts
    assert any(
        isinstance(node, ast.ImportFrom)
        for function in ast.walk(
            ast.parse(MODULES["gocor_lite.pictures.matching_rules"].read_text())
        )
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
    )
    assert "gocor_lite.pictures.score_maps" in graph["gocor_lite.pictures.matching_rules"]


def test_the_library_has_no_import_cycle_lazy_or_not():
    """Every import statement counts, also those inside functions; a package stands for its
    ``__init__``. A cycle hidden by a function-local import is still a cycle."""
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_evaluation_never_imports_training():
    """What measures never depends on what trains: evaluation reads the shipped weights
    through ``gocor_lite.files.weights`` and shares helpers through the core."""
    wrong = {
        name: sorted(t for t in targets if t.startswith("gocor_lite.training"))
        for name, targets in import_graph().items()
        if name.startswith("gocor_lite.evaluation")
    }
    assert not any(wrong.values()), {k: v for k, v in wrong.items() if v}


def test_nothing_in_the_library_imports_a_command_or_the_app():
    """A command imports the library, never the reverse; the app imports the library, never
    the reverse."""
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        roots = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "explorer" not in roots, f"{name} imports the app"
        if name.startswith("gocor_lite.cli"):
            continue
        commands = sorted(t for t in imported_modules(path) if t.startswith("gocor_lite.cli"))
        assert not commands, f"{name} imports the command(s) {commands}"


def test_no_module_is_loose_at_the_root():
    """The root holds the re-exports and the argument checks; every other module lives in a
    folder that says what it is."""
    loose = sorted(path.stem for path in LIBRARY.glob("*.py"))
    assert set(loose) <= ROOT_MODULES, sorted(set(loose) - ROOT_MODULES)


def test_a_file_name_means_one_thing():
    """No two modules of the library share a file name, but for an exercise topic named after
    its subject (see :data:`EXERCISE_TOPICS`)."""
    names = Counter(
        path.name
        for path in LIBRARY.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py") and path.parent.name != EXERCISE_TOPICS
    )
    repeated = sorted(name for name, count in names.items() if count > 1)
    assert not repeated, repeated


def test_the_folders_init_files_import_nothing_from_other_folders():
    """A folder's ``__init__`` imports nothing outside its folder, so that importing one module
    of it never drags in (or circles through) another folder."""
    for name, path in MODULES.items():
        if path.name != "__init__.py" or name == "gocor_lite":
            continue
        outside = sorted(t for t in imported_modules(path) if not t.startswith(name))
        assert not outside, f"{name}/__init__ imports {outside}"


def test_every_command_has_a_main_and_runs_as_a_module():
    """Each command in gocor_lite/cli is ``python -m gocor_lite.cli.<name>`` (a ``__main__``
    guard calling ``main``) and a console script of ``pyproject.toml``."""
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    targets = set(scripts.values())
    for path in sorted((LIBRARY / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        if "main" not in functions:
            continue  # a helper of the commands (floors)
        assert f"{module_name(path)}:main" in targets, f"no console script runs {path.name}"
        guards = [
            node
            for node in tree.body
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
        ]
        assert guards, f"{path.name} does not run as python -m {module_name(path)}"


def test_every_console_script_names_a_callable_main():
    """``[project.scripts]``: each entry is ``module:function`` of this project, importable,
    and the function takes an optional argv (what the console wrapper calls with none)."""
    import importlib
    import inspect
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert name.startswith("gocor-") and module.split(".")[0] in ("gocor_lite", "explorer")
        main = getattr(importlib.import_module(module), function)
        required = [
            parameter
            for parameter in inspect.signature(main).parameters.values()
            if parameter.default is inspect.Parameter.empty
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ]
        assert not required, f"{name}: {target} needs arguments {required}"
