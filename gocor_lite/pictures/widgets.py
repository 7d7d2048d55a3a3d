# SPDX-License-Identifier: MIT
"""Small interactive figures for the notebooks: controls (sliders) that redraw a picture.

A figure is drawn by a plain function of the controls' values, rendered to PNG and shown in an
``ipywidgets.Image``; each control's ``observe`` callback redraws it. No ``interact`` and no
``Output`` widget (they can stall headless notebook execution), no pyplot state. Executed
without a front end, the widget shows as text and the callbacks still run when a value is set.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from gocor_lite.pictures.marks import NOTATION, WINDOW, draw_marks, mark_style


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

    ``controls`` maps ``draw``'s keyword arguments to ipywidgets controls (e.g. ``IntSlider``;
    give sliders ``continuous_update=False`` so that a drag redraws once, on release);
    ``draw`` returns a matplotlib ``Figure`` or PNG bytes (e.g. :meth:`MapPanels.png`, the fast
    way). Returns an ``ipywidgets.VBox`` whose children are
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
        picture = draw(**values)
        image.value = picture if isinstance(picture, bytes) else figure_png(picture, dpi)

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox(list(controls.values())), image])


class MapPanels:
    """Score maps over images, drawn once and redrawn fast: a widget's picture.

    A row (or grid, ``columns``) of panels, each a grey image with a per-cell map over it
    (NaN is transparent), a colour bar, a title and marks in the course's notation
    (:mod:`~gocor_lite.pictures.marks`: a mark's label names its role; ``+`` on the best
    score). :meth:`update` puts new
    maps, marks and titles into the artists made at construction, and :meth:`png` renders:
    no figure, axis or colour bar is created again, which is what makes a redraw cost a
    fraction of drawing a new figure.

    ``scale``: ``None`` (each map on its own range, recomputed at every update) or one
    ``(vmin, vmax)`` for every panel (a shared colour scale, to compare maps by colour).
    ``colorbar=False`` leaves the colour bars out (a third faster to redraw; for many panels
    where the position of the peak is what counts).

    >>> import numpy as np
    >>> panels = MapPanels([np.zeros((16, 16, 3), np.uint8)] * 2, ["a", "b"], scale=(0, 1))
    >>> panels.update([np.eye(2), np.ones((2, 2))], marks=[{"target pixel": (3, 3)}, {}])
    >>> panels.png()[:4]
    b'\\x89PNG'
    """

    def __init__(
        self,
        images: Sequence[Any],
        titles: Sequence[str],
        *,
        columns: int | None = None,
        scale: tuple[float, float] | None = None,
        cmap: str = "inferno",
        width: float = 3.0,
        dpi: float = 72,
        title: str | None = None,
        colorbar: bool = True,
    ):
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        if len(images) != len(titles) or not images:
            raise ValueError(f"need one title per image, got {len(images)} and {len(titles)}")
        columns = len(images) if columns is None else columns
        rows = -(-len(images) // columns)
        height, image_width = images[0].shape[:2]
        self.scale = scale
        self.dpi = dpi
        self.figure = Figure(
            figsize=(width * columns, (width * height / image_width + 0.45) * rows + 0.3), dpi=dpi
        )
        FigureCanvasAgg(self.figure)
        axes = self.figure.subplots(rows, columns, squeeze=False)
        self.axes = list(axes.flat)[: len(images)]
        for axis in list(axes.flat)[len(images) :]:
            axis.set_axis_off()
        self.maps, self.marks, self.best = [], [], []
        low, high = scale if scale is not None else (0.0, 1.0)
        for axis, image, name in zip(self.axes, images, titles, strict=True):
            grey = np.asarray(image, dtype=np.float64)
            grey = grey.mean(axis=2) if grey.ndim == 3 else grey
            extent = (-0.5, grey.shape[1] - 0.5, grey.shape[0] - 0.5, -0.5)
            axis.imshow(grey, cmap="gray", vmin=0, vmax=255, extent=extent)
            shown = axis.imshow(
                np.full((1, 1), np.nan),
                cmap=cmap,
                alpha=0.75,
                vmin=low,
                vmax=high,
                interpolation="nearest",
                extent=extent,
            )
            if colorbar:
                bar = self.figure.colorbar(shown, ax=axis, shrink=0.8)
                bar.locator = MaxNLocator(4)  # few tick labels: text is most of a redraw's cost
                bar.ax.tick_params(labelsize=8)
            self.maps.append(shown)
            (best,) = axis.plot([], [], "+", color="white", ms=12, mew=2.5)
            self.best.append(best)
            self.marks.append(
                {
                    mark.role: draw_marks(axis, {mark.role: (0.0, 0.0)}, size=10)[0]
                    for mark in NOTATION
                    if mark is not WINDOW
                }
            )
            for line in self.marks[-1].values():
                line.set_data([], [])
            axis.set_title(name, fontsize="medium")
            axis.set_axis_off()  # no ticks to lay out and draw at every redraw
            axis.set_xlim(extent[0], extent[1])
            axis.set_ylim(extent[2], extent[3])
        self.suptitle = self.figure.suptitle(title or "")

    def update(
        self,
        maps: Sequence[Any],
        marks: Sequence[dict[str, tuple[float, float]] | None] | None = None,
        titles: Sequence[str] | None = None,
        title: str | None = None,
        scale: tuple[float, float] | None = None,
    ) -> None:
        """New maps (``(h, w)`` per panel, numpy or torch), marks (per panel, label -> pixel
        ``(x, y)``, one per role of :mod:`~gocor_lite.pictures.marks`), titles, figure title
        and shared colour scale (``None``: keep)."""
        import numpy as np

        if len(maps) != len(self.maps):
            raise ValueError(f"expected {len(self.maps)} maps, got {len(maps)}")
        if scale is not None:
            self.scale = scale
            for artist in self.maps:
                artist.set_clim(*scale)
        for index, score_map in enumerate(maps):
            values = score_map.detach().cpu().numpy() if hasattr(score_map, "detach") else score_map
            values = np.asarray(values, dtype=np.float64)
            artist = self.maps[index]
            artist.set_data(values)
            finite = np.isfinite(values)
            if self.scale is None and finite.any():
                low, high = float(values[finite].min()), float(values[finite].max())
                artist.set_clim(low, high if high > low else low + 1e-9)
            left, right, bottom, top = artist.get_extent()
            best = self.best[index]
            if finite.any():
                row, column = np.unravel_index(np.nanargmax(values), values.shape)
                cell_width = (right - left) / values.shape[1]
                cell_height = (bottom - top) / values.shape[0]
                best.set_data(
                    [left + (column + 0.5) * cell_width], [top + (row + 0.5) * cell_height]
                )
            else:
                best.set_data([], [])
            if marks is not None:
                placed = {
                    mark_style(label).role: point for label, point in (marks[index] or {}).items()
                }
                for role, line in self.marks[index].items():
                    point = placed.get(role)
                    line.set_data([], []) if point is None else line.set_data(
                        [point[0]], [point[1]]
                    )
            if titles is not None:
                self.axes[index].set_title(titles[index], fontsize="medium")
        if title is not None:
            self.suptitle.set_text(title)

    def png(self) -> bytes:
        """The panels as PNG bytes."""
        return figure_png(self.figure, self.dpi)


def cell_sliders(
    pixel: tuple[int, int], image_size: tuple[int, int], stride: int
) -> dict[str, Any]:
    """Two sliders ``{"x": ..., "y": ...}`` over a target image's pixels, one feature cell per
    step, on the pixels ``stride // 2 + k * stride`` (inside cell ``k``, next to its centre),
    redrawing on release (``continuous_update=False``).

    ``pixel`` must be one of those pixels (so that the first move of a slider does not jump
    silently): :func:`cell_pixel` gives the one of a cell. ``image_size`` is ``(H, W)``.
    """
    import ipywidgets as widgets

    sliders = {}
    for name, value, size in (("x", pixel[0], image_size[1]), ("y", pixel[1], image_size[0])):
        first = stride // 2
        last = first + stride * ((size - 1 - first) // stride)
        if value < first or value > last or (value - first) % stride:
            raise ValueError(
                f"{name} = {value} is not a slider position ({first}, {first + stride}, ..., "
                f"{last}); use cell_pixel(cell, stride)"
            )
        sliders[name] = widgets.IntSlider(
            value=value,
            min=first,
            max=last,
            step=stride,
            description=name,
            continuous_update=False,
        )
    return sliders


def cell_pixel(cell: tuple[int, int], stride: int) -> tuple[int, int]:
    """The slider pixel of target cell ``(x, y)`` (:func:`cell_sliders`): ``k * stride +
    stride // 2`` per axis."""
    return (cell[0] * stride + stride // 2, cell[1] * stride + stride // 2)
