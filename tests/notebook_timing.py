# SPDX-License-Identifier: MIT
"""Time every cell of the course's notebooks: ``python -m tests.notebook_timing [NOTEBOOK ...]``.

Executes each notebook with nbclient (as ``tests/test_notebooks.py`` does, in a temporary
folder, nothing written into the tree) and prints a markdown table: per notebook its total
and its slowest cells, from the kernel's own timestamps (``shell.execute_reply`` minus
``iopub.execute_input`` of each cell). Run it from the repository root with
``PYTHONPATH=$PWD`` on a quiet machine; ``notebooks/README.md`` keeps the last table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def cell_times(path: Path, timeout: int = 600) -> tuple[list[tuple[int, float, str]], float]:
    """Execute ``path``; returns ``[(cell index, seconds, first line)]`` for its code cells
    and the wall time of the whole run (kernel start included)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            record_timing=True,
            resources={"metadata": {"path": folder}},
        )
        client.execute()
    wall = time.perf_counter() - started
    times = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        stamps = cell.metadata.get("execution", {})
        begin, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
        if begin is None or end is None:
            continue
        seconds = (_parse(end) - _parse(begin)).total_seconds()
        first = next((line for line in cell.source.splitlines() if line.strip()), "")
        times.append((index, seconds, first[:60]))
    return times, wall


#: The widgets' pictures as the notebooks build them: (what, panels, columns, width, dpi, bars).
WIDGETS = (
    ("notebooks 1, 2 and 3 (2 panels)", 2, None, 3.0, 60, True),
    ("notebooks 6 and 7 (3 panels)", 3, None, 3.0, 60, True),
    ("notebook 4 (8 panels, no colour bars)", 8, 4, 2.6, 50, False),
)


def widget_times(repeats: int = 7) -> list[tuple[str, float]]:
    """Median seconds of one redraw (:meth:`MapPanels.update` and :meth:`MapPanels.png`) of
    each widget picture of :data:`WIDGETS`, on 256x320 images and 32x40 maps."""
    import statistics

    import numpy as np

    from gocor_lite.pictures.widgets import MapPanels

    generator = np.random.default_rng(0)
    image = generator.integers(0, 256, (256, 320, 3), dtype=np.uint8)
    results = []
    for name, count, columns, width, dpi, bars in WIDGETS:
        panels = MapPanels(
            [image] * count, ["t"] * count, columns=columns, width=width, dpi=dpi, colorbar=bars
        )
        times = []
        for _ in range(repeats):
            maps = [generator.random((32, 40)) for _ in range(count)]
            start = time.perf_counter()
            panels.update(
                maps, marks=[{"target pixel": (100.0, 80.0)}] * count, titles=["x"] * count
            )
            panels.png()
            times.append(time.perf_counter() - start)
        results.append((name, statistics.median(times)))
    return results


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.notebook_timing", description=__doc__)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every NN_*.ipynb")
    parser.add_argument("--top", type=int, default=3, help="slowest cells listed per notebook")
    parser.add_argument(
        "--widgets", action="store_true", help="time one redraw of each widget picture instead"
    )
    args = parser.parse_args(argv)
    if args.widgets:
        import torch

        torch.set_num_threads(1)  # as the notebooks
        print("| widget picture | redraw, median (s) |\n|---|---:|")
        for name, seconds in widget_times():
            print(f"| {name} | {seconds:.2f} |")
        return 0
    paths = args.notebooks or sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    print("| notebook | run (s) | cells (s) | slowest cells (index: s) |")
    print("|---|---:|---:|---|")
    slowest = 0.0
    for path in paths:
        times, wall = cell_times(path)
        total = sum(seconds for _, seconds, _ in times)
        top = sorted(times, key=lambda item: -item[1])[: args.top]
        listed = ", ".join(f"{index}: {seconds:.1f}" for index, seconds, _ in top)
        print(f"| `{path.name}` | {wall:.1f} | {total:.1f} | {listed} |", flush=True)
        slowest = max([slowest, *(seconds for _, seconds, _ in times)])
    print(f"\nslowest cell: {slowest:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
