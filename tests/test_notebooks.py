# SPDX-License-Identifier: MIT
"""The course: every notebook in notebooks/ runs top to bottom, and is committed clean.

A new notebook is picked up by its file name alone (``notebooks/NN_name.ipynb``).
Execution uses nbclient with a short per-cell timeout (see the shared tooling notes on the
ipywidgets ``Output`` stall) in a temporary directory, so nothing is written into the tree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
# Per-cell limit: at least 3x the slowest cell measured (notebooks/README.md, "Timing": well
# under 30 s on 2 cores, and about 22 s under a load average of 7), so that a loaded CI machine
# does not fail a cell that is merely slow.
CELL_TIMEOUT_S = 90
# Text on stderr that means a cell misbehaved although it did not raise.
BAD_STDERR = ("Warning", "Error", "Traceback")


def _ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


def test_the_course_is_there():
    numbers = [path.name[:2] for path in NOTEBOOKS]
    assert len(NOTEBOOKS) >= 5, NOTEBOOKS
    assert numbers == sorted(set(numbers)), "notebook numbers must be unique"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_clean(path: Path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell["source"])
        where = f"{path.name}, cell {index}"
        if cell["cell_type"] == "code":
            clear = f"jupyter nbconvert --clear-output --inplace {path}"
            assert cell["outputs"] == [], f"{where} has outputs: {clear}"
            assert cell["execution_count"] is None, f"{where} has an execution count"
            assert "sys.path" not in source, f"{where}: import the installed package instead"
    first = "".join(notebook["cells"][0]["source"])
    assert notebook["cells"][0]["cell_type"] == "markdown" and "learn" in first.lower(), (
        f"{path.name} must start by saying what the reader will learn"
    )
    last = "".join(notebook["cells"][-1]["source"])
    assert notebook["cells"][-1]["cell_type"] == "markdown" and "?" in last, (
        f"{path.name} must end with questions or exercises"
    )
    markdown = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"]
    code = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    assert any("README.md#notation" in text for text in markdown), (
        f"{path.name} must link the notation table (README.md#notation)"
    )
    assert any(
        text.lstrip("# ").startswith("Summary") or "\n## Summary" in text for text in markdown
    ), f"{path.name} needs a summary cell (## Summary)"
    assert sum("print(check(" in text or "print(grade(" in text for text in code) >= 2, (
        f"{path.name} needs a checkable exercise: a check cell and its solution's check"
    )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs(path: Path, tmp_path: Path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any exception
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = output.get("text", "")
                assert not any(word in text for word in BAD_STDERR), (
                    f"{path.name}, cell {index} wrote to stderr:\n{text}"
                )


@pytest.mark.slow
def test_the_timing_tool_times_each_cell(tmp_path: Path):
    """``python -m tests.notebook_timing`` (which made the README's table) reads the kernel's
    timestamps per code cell: a cell that sleeps 0.5 s takes at least that."""
    import nbformat

    from tests.notebook_timing import cell_times

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# learn"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("import time\ntime.sleep(0.5)"),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = tmp_path / "t.ipynb"
    nbformat.write(notebook, path)
    times, wall = cell_times(path)
    assert [index for index, _, _ in times] == [1, 2]
    assert times[1][1] >= 0.5 > times[0][1] and wall >= times[1][1]
    assert times[1][2] == "import time"


def test_the_widget_timing_command_draws_each_widget_picture():
    """``python -m tests.notebook_timing --widgets`` (the README's widget table) still builds
    and redraws every widget picture as the notebooks do (it broke once unnoticed)."""
    from tests.notebook_timing import widget_times

    rows = list(widget_times())
    assert len(rows) == 3 and all(seconds > 0 for _, seconds in rows), rows
