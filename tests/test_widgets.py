# SPDX-License-Identifier: MIT
"""The notebooks' slider-driven figures, exercised without a front end."""

from __future__ import annotations

import ipywidgets as widgets
from matplotlib.figure import Figure

from gocor_lite.pictures.widgets import figure_png, figure_widget


def _draw(x: int, y: int) -> Figure:
    figure = Figure(figsize=(2, 2))
    figure.subplots().plot([x], [y], "o")
    return figure


def test_figure_png_is_a_png():
    assert figure_png(_draw(1, 2), dpi=30).startswith(b"\x89PNG\r\n\x1a\n")


def test_every_control_redraws():
    calls = []

    def draw(x: int, y: int) -> Figure:
        calls.append((x, y))
        return _draw(x, y)

    x, y = widgets.IntSlider(value=1, max=5), widgets.IntSlider(value=2, max=5)
    box = figure_widget(draw, {"x": x, "y": y}, dpi=30)
    image = box.children[1]
    assert isinstance(image, widgets.Image) and bytes(image.value).startswith(b"\x89PNG")
    first = bytes(image.value)
    x.value = 4
    y.value = 0
    assert calls == [(1, 2), (4, 2), (4, 0)]
    assert bytes(image.value) != first
    assert list(box.children[0].children) == [x, y]
