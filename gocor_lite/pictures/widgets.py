# SPDX-License-Identifier: MIT
"""Small interactive figures for the notebooks: controls (sliders) that redraw a picture.

A figure is drawn by a plain function of the controls' values, rendered to PNG and shown in an
``ipywidgets.Image``; each control's ``observe`` callback redraws it. No ``interact`` and no
``Output`` widget (they can stall headless notebook execution), no pyplot state. Executed
without a front end, the widget shows as text and the callbacks still run when a value is set.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any


def figure_png(figure: Any, dpi: float | None = None) -> bytes:
    """Render a matplotlib ``Figure`` to PNG bytes (no pyplot, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # attaches itself to the figure if it has no canvas yet
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi if dpi is not None else "figure")
    return buffer.getvalue()


def figure_widget(
    draw: Callable[..., Any], controls: dict[str, Any], *, dpi: float | None = None
) -> Any:
    """Controls above an image of ``draw(**values)``, redrawn whenever a control changes.

    ``controls`` maps ``draw``'s keyword arguments to ipywidgets controls (e.g. ``IntSlider``);
    ``draw`` returns a matplotlib ``Figure``. Returns an ``ipywidgets.VBox`` whose children are
    an ``HBox`` of the controls and the ``Image``.

    >>> import ipywidgets as widgets
    >>> from matplotlib.figure import Figure
    >>> def draw(k):
    ...     figure = Figure(figsize=(2, 2)); figure.subplots().plot([0, k]); return figure
    >>> box = figure_widget(draw, {"k": widgets.IntSlider(value=1, min=0, max=3)})
    >>> before = box.children[1].value
    >>> box.children[0].children[0].value = 3  # what dragging the slider does
    >>> box.children[1].value != before
    True
    """
    import ipywidgets as widgets

    image = widgets.Image(format="png")

    def redraw(_change: object = None) -> None:
        values = {name: control.value for name, control in controls.items()}
        image.value = figure_png(draw(**values), dpi)

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox(list(controls.values())), image])
