# SPDX-License-Identifier: MIT
"""The figure command draws Fig. 1 of the GOCor paper for a bundled pair into a real PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gocor_lite.cli.figure import main
from gocor_lite.data.examples import example_names, load_example


@pytest.mark.parametrize(
    "options",
    [[], ["--features", "daisy", "--gocor-parameters", "initial"]],
    ids=["default", "daisy"],
)
def test_figure_command_writes_a_picture(tmp_path, capsys, options):
    out = tmp_path / "figure.png"
    assert main(["--size", "160", "--iterations", "2", "--out", str(out), *options]) == 0
    assert "wrote" in capsys.readouterr().out
    picture = np.asarray(Image.open(out).convert("RGB"))
    assert picture.shape[0] > 300 and picture.shape[1] > 900
    # Not blank: many distinct colours (images, heat maps and colour bars).
    assert len(np.unique(picture.reshape(-1, 3), axis=0)) > 1000


def test_figure_command_reports_bad_files(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert main(["--target", str(bad), "--source", str(bad), "--out", str(tmp_path / "x.png")]) == 2
    assert "not an image file" in capsys.readouterr().err


@pytest.mark.parametrize("name", example_names())
def test_example_pairs_are_consistent(name):
    pair = load_example(name)
    assert pair.target.dtype == np.uint8 and pair.target.ndim == 3
    if pair.flow is not None:
        assert pair.flow.shape == (2, *pair.target.shape[:2])
        assert np.isfinite(pair.flow).any()
