# SPDX-License-Identifier: MIT
"""The pixel of a link (``explorer.link.view_from_query``) at the edges of the target image: a
pixel ``(x, y)`` is inside for ``0 <= x < W`` and ``0 <= y < H`` (its column and row are
``floor(x)``, ``floor(y)``); ``x = W`` or ``y = H`` is one past the last pixel and refused, and
the view keeps its pixel."""

from __future__ import annotations

import pytest
import torch

from explorer import link
from explorer.pipeline import Pipeline, Settings
from explorer.state import View


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    torch.set_num_threads(1)
    return Pipeline()


@pytest.fixture(scope="module")
def start(pipeline: Pipeline) -> View:
    return View(pipeline.example_pair("brick-shift"), Settings(), (1.0, 1.0), 3)


@pytest.fixture(scope="module")
def size(pipeline: Pipeline, start: View) -> tuple[int, int]:
    """(W, H) of the target at the working resolution (what the page shows)."""
    target = pipeline.working_pair(start.pair_id, start.settings).pair.target
    height, width = target.shape[:2]
    assert min(width, height) > 2
    return width, height


def _open(params: dict[str, str], start: View, pipeline: Pipeline):
    return link.view_from_query(params, start, pipeline)


def test_the_last_pixel_and_a_fraction_of_it_are_inside(pipeline, start, size):
    width, height = size
    last = {"x": str(width - 1), "y": str(height - 1)}
    view, problems = _open(last, start, pipeline)
    assert problems == [] and view.pixel == (width - 1.0, height - 1.0)
    fraction = {"x": f"{width - 0.5}", "y": f"{height - 0.25}"}
    view, problems = _open(fraction, start, pipeline)
    assert problems == [] and view.pixel == (width - 1.0, height - 1.0)
    view, problems = _open({"x": "0", "y": "0"}, start, pipeline)
    assert problems == [] and view.pixel == (0.0, 0.0)


@pytest.mark.parametrize(
    "where",
    ["x=W&y=0", "x=0&y=H", "x=W&y=H", "x=-0.5&y=0", "x=0&y=-1"],
)
def test_one_past_the_last_pixel_or_before_the_first_is_refused(pipeline, start, size, where):
    width, height = size
    params = dict(
        part.replace("W", str(width)).replace("H", str(height)).split("=")
        for part in where.split("&")
    )
    view, problems = _open(params, start, pipeline)
    assert view == start
    assert len(problems) == 1 and "outside the target image" in problems[0]
