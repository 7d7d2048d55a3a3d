# SPDX-License-Identifier: MIT
"""Slicing one pixel's maps out of a local GOCor trace."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gocor_lite import LocalGOCor, local_correlation
from gocor_lite.pictures.score_maps import draw_iterations, draw_score_map, local_pixel_maps


def test_local_pixel_maps_place_the_window_around_the_cell(generator):
    stride, radius = 4, 2
    target = torch.randn(1, 8, 6, 7, generator=generator, dtype=torch.float64)
    source = torch.randn(1, 8, 6, 7, generator=generator, dtype=torch.float64)
    trace = LocalGOCor(search_radius=radius, num_iter=2).double().trace(target, source)
    size = (6 * stride, 7 * stride)
    maps = local_pixel_maps(target, source, trace, (1 * stride + 1, 3 * stride), stride, size, size)
    assert maps.cell == (1, 3)
    assert len(maps.gocor_source) == len(maps.gocor_target) == 3
    plain = local_correlation(target, source, radius)[0, 3, 1]  # (2R+1, 2R+1) at cell (1, 3)
    # Source cell (x, y) = (1 + dx, 3 + dy) shows window entry [R+dy, R+dx]; it covers pixels
    # stride*x .. stride*x + stride - 1.
    for dy in (-2, 0, 2):
        for dx in (-1, 0, 2):
            pixel_y, pixel_x = (3 + dy) * stride, (1 + dx) * stride
            value = maps.correlation_source[pixel_y, pixel_x]
            assert np.isclose(value, float(plain[radius + dy, radius + dx]), rtol=1e-5)
            last = trace.volumes[-1][0, 3, 1, radius + dy, radius + dx]
            assert np.isclose(maps.gocor_source[-1][pixel_y, pixel_x], float(last), rtol=1e-5)
    # Outside the window (x = 1 - 2 - 1 < 0 is off the map; x = 1 + 3 is outside): NaN.
    assert np.isnan(maps.gocor_source[0][3 * stride, 4 * stride + 1])
    assert np.isfinite(maps.gocor_target[0]).sum() < maps.gocor_target[0].size
    figure = draw_iterations(np.zeros((*size, 3), np.uint8), np.zeros((*size, 3), np.uint8), maps)
    assert len(figure.axes) > 6


def test_draw_score_map_marks_and_colour_bar():
    from matplotlib.figure import Figure

    figure = Figure()
    axis = figure.subplots()
    image = np.zeros((16, 24, 3), np.uint8)
    scores = torch.arange(6.0).view(2, 3)
    shown = draw_score_map(
        axis, image, scores, marks={"target pixel": (3, 4), "true match": (10, 2)}, title="t"
    )
    assert shown.get_extent() == [-0.5, 23.5, 15.5, -0.5]
    assert len(figure.axes) == 2  # the map and its colour bar
    labels = [text.get_text() for text in axis.get_legend().get_texts()]
    assert labels == ["best match", "target pixel", "true match"]
    lines = {line.get_label(): line for line in axis.get_lines()}
    # the notation's shapes and colours, stated here by hand: cyan square, green circle
    assert lines["target pixel"].get_marker() == "s"
    assert lines["target pixel"].get_markeredgecolor() == (0.0, 229 / 255, 1.0)
    assert lines["true match"].get_marker() == "o"
    assert lines["true match"].get_markeredgecolor() == (57 / 255, 1.0, 20 / 255)
    with pytest.raises(ValueError, match="must start with one of its roles"):
        draw_score_map(axis, image, scores, marks={"pixel": (3, 4)})


def test_map_panels_redraw_in_place():
    from gocor_lite.pictures.widgets import MapPanels, figure_widget

    image = np.zeros((32, 48, 3), np.uint8)
    panels = MapPanels([image, image], ["a", "b"], scale=(0.0, 2.0))
    before = len(panels.figure.axes)
    scores = np.zeros((4, 6))
    scores[1, 5] = 2.0  # the best cell: column 5, row 1 -> pixel centre (5.5 * 8 - 0.5, ...)
    panels.update(
        [scores, torch.full((4, 6), float("nan"))], marks=[{"true match": (3.0, 4.0)}, None]
    )
    assert len(panels.figure.axes) == before  # nothing was added
    best_x, best_y = panels.best[0].get_data()
    assert (float(best_x[0]), float(best_y[0])) == (43.5, 11.5)
    assert panels.best[1].get_data()[0] == []  # no score at all: no best mark
    placed = {role: line.get_data() for role, line in panels.marks[0].items() if line.get_xdata()}
    assert list(placed) == ["true match"] and panels.marks[0]["true match"].get_marker() == "o"
    assert panels.maps[0].get_clim() == (0.0, 2.0)  # the shared scale holds
    assert panels.png()[:4] == b"\x89PNG"
    own = MapPanels([image], ["c"])  # each map on its own range
    own.update([scores + 1.0])
    assert own.maps[0].get_clim() == (1.0, 3.0)

    def draw(k):
        own.update([scores * k])
        return own.png()

    import ipywidgets as widgets

    box = figure_widget(draw, {"k": widgets.IntSlider(value=1, min=1, max=3)})
    first = box.children[1].value
    box.children[0].children[0].value = 3
    assert box.children[1].value != first and own.maps[0].get_clim() == (0.0, 6.0)


def test_cell_sliders_step_one_cell_from_a_reachable_value():
    import pytest

    from gocor_lite.pictures.widgets import cell_pixel, cell_sliders

    sliders = cell_sliders(cell_pixel((19, 12), 8), (240, 320), 8)
    x, y = sliders["x"], sliders["y"]
    assert (x.value, y.value) == (156, 100) and x.step == y.step == 8
    assert (x.min, x.max, y.max) == (4, 316, 236)
    assert (x.value - x.min) % x.step == 0 and not x.continuous_update
    with pytest.raises(ValueError, match="not a slider position"):
        cell_sliders((150, 100), (240, 320), 8)  # 150 is not 4 + 8 k: the slider would snap


def test_the_course_states_the_notation_of_the_library():
    """notebooks/README.md's table of marks is the one the library draws (never edited apart)."""
    from pathlib import Path

    from gocor_lite.pictures.marks import notation_markdown

    readme = (Path(__file__).resolve().parents[1] / "notebooks" / "README.md").read_text()
    assert notation_markdown() in readme
