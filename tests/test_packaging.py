# SPDX-License-Identifier: MIT
"""The project's own shape: dependencies in step, imports pointing one way, licence lines."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# Names that differ between PyPI and conda.
CONDA_NAMES = {"torch": "pytorch"}


def test_environment_yml_matches_pyproject():
    import rattler

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert set(environment["channels"]) == {"conda-forge", "pytorch"}
    conda = {}
    pip_entries: list[str] = []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip_entries.extend(entry["pip"])
            continue
        spec = rattler.MatchSpec(entry)  # raises on a malformed spec
        conda[spec.name.normalized] = entry
    assert "-e ." in pip_entries  # the project itself comes from pip
    expected = set()
    for requirement in map(Requirement, project["dependencies"]):
        name = CONDA_NAMES.get(requirement.name, requirement.name)
        expected.add(name)
        assert name in conda, f"{name} is in pyproject.toml but not in environment.yml"
        bound = conda[name][len(name) :].replace(" ", "")
        assert bound == str(requirement.specifier), (name, bound, str(requirement.specifier))
    extra = set(conda) - expected - {"python", "pip"}
    assert not extra, f"environment.yml lists {extra}, which pyproject.toml does not"
    python = conda["python"][len("python") :]
    assert python == project["requires-python"]


def test_library_never_imports_the_app_stack():
    """gocor_lite -> torch only: importing every module of it (the pictures leaf and the commands
    included) with gradio, the app and the notebook widgets blocked works."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('gradio', 'explorer', 'ipywidgets'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import gocor_lite, pkgutil, importlib\n"
        "found = pkgutil.walk_packages(gocor_lite.__path__, 'gocor_lite.')\n"
        "names = [info.name for info in found]\n"
        "assert 'gocor_lite.gocor.modules' in names and 'gocor_lite.cli.train' in names, names\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_every_source_file_has_a_licence_line():
    sources = [
        *ROOT.glob("gocor_lite/**/*.py"),
        *ROOT.glob("explorer/**/*.py"),
        *ROOT.glob("tools/**/*.py"),
        *ROOT.glob("tests/**/*.py"),
    ]
    assert sources
    missing = [
        str(path.relative_to(ROOT))
        for path in sources
        if not path.read_text().startswith("# SPDX-License-Identifier: MIT")
    ]
    assert not missing, missing


def test_the_apps_tools_are_not_shipped():
    """tools/ (the explorer's benchmark, load test, screenshots) runs from the repository;
    the wheel ships gocor_lite and explorer only, and the app never imports a tool."""
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert found["packages"]["find"]["include"] == ["gocor_lite*", "explorer*"]
    assert (ROOT / "tools" / "explorer_load.py").is_file()
    for path in ROOT.glob("explorer/**/*.py"):
        assert not any(name.split(".")[0] == "tools" for name in _imports(path)), path


def _imports(path: Path) -> set[str]:
    """The modules a file imports, lazily or not (every ``import``/``from`` statement)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names
