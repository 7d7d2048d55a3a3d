# SPDX-License-Identifier: MIT
"""The README's reading-a-match snippet runs as written (it once named variables it never
defined), and writes the files it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _snippet(first_line: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    found = [block for block in blocks if block.startswith(first_line)]
    assert len(found) == 1, f"no single README block starts with {first_line!r}"
    return found[0]


@pytest.mark.slow
def test_the_rules_snippet_runs_as_written(tmp_path: Path) -> None:
    code = _snippet("from gocor_lite.data.examples import load_example\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    maps = np.load(tmp_path / "maps.npy")
    assert maps.ndim == 3 and maps.dtype == np.float32  # (K, h', w')
    assert (tmp_path / "matches.csv").read_text().count("\n") > 10
    with open(tmp_path / "flow.flo", "rb") as flo:
        assert flo.read(4) == b"PIEH"  # Middlebury's tag
