# SPDX-License-Identifier: MIT
"""The course's one notation for marks on pictures: which shape and colour means what.

The notebooks, the explorer and the README draw the same thing the same way:

=================  ======  ===================  =============================================
role               glyph   drawn as             meaning
=================  ======  ===================  =============================================
``target pixel``   ▢       cyan square          the pixel (cell) whose match is sought
``true match``     ◯       green circle         where the ground truth puts its match
``best match``     ✚       white plus           a map's highest score (each method's own)
``second peak``    ✕       magenta cross        the best score outside the best's neighbours
``flow's match``   ◆       orange diamond       where a flow or a sub-cell estimate puts it
``window``         ⬚       cyan dashed square   the local correlation's search window
=================  ======  ===================  =============================================

A mark's label names its role, optionally followed by words of its own
(``"best match, GOCor"``): :func:`mark_style` reads the role from the label's start, so a
picture cannot silently give a role another colour. :func:`draw_marks` and
:func:`notation_legend` are the matplotlib side; the explorer draws with PIL from the same
:data:`NOTATION` colours.

>>> mark_style("best match, correlation").glyph
'✚'
>>> mark_style("peak")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: a mark's label must start with one of its roles (target pixel, ...); got 'peak'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Mark:
    """One role's look: matplotlib ``marker``, ``rgb`` (0-255), a text ``glyph`` and the
    look in words (``drawn``)."""

    role: str
    glyph: str
    marker: str
    rgb: tuple[int, int, int]
    meaning: str
    drawn: str

    @property
    def colour(self) -> tuple[float, float, float]:
        """The colour for matplotlib (0-1 floats)."""
        red, green, blue = self.rgb
        return (red / 255, green / 255, blue / 255)

    @property
    def filled(self) -> bool:
        """Whether the marker is a line glyph (``+``, ``x``) rather than an outline."""
        return self.marker in "+x"


TARGET = Mark(
    "target pixel", "▢", "s", (0, 229, 255), "the pixel (cell) whose match is sought", "cyan square"
)
TRUTH = Mark(
    "true match", "◯", "o", (57, 255, 20), "where the ground truth puts its match", "green circle"
)
BEST = Mark(
    "best match",
    "✚",
    "+",
    (255, 255, 255),
    "a map's highest score (each method's own)",
    "white plus",
)
SECOND = Mark(
    "second peak",
    "✕",
    "x",
    (255, 0, 255),
    "the best score outside the best's neighbours",
    "magenta cross",
)
FLOW = Mark(
    "flow's match",
    "◆",
    "D",
    (255, 160, 0),
    "where a flow (a network level's) or a sub-cell estimate (soft-argmax) puts the match",
    "orange diamond",
)
WINDOW = Mark(
    "window", "⬚", "s", (0, 229, 255), "the local correlation's search window", "cyan dashed square"
)
NOTATION: tuple[Mark, ...] = (TARGET, TRUTH, BEST, SECOND, FLOW, WINDOW)


def mark_style(label: str) -> Mark:
    """The :class:`Mark` of a label that starts with a role name (case-insensitive)."""
    lowered = label.lower()
    for mark in NOTATION:
        if lowered.startswith(mark.role):
            return mark
    roles = ", ".join(mark.role for mark in NOTATION)
    raise ValueError(f"a mark's label must start with one of its roles ({roles}); got {label!r}")


def _plot(axis, mark: Mark, x: float, y: float, label: str | None, size: float):
    if mark.filled:
        return axis.plot(
            [x],
            [y],
            mark.marker,
            color="white" if mark is BEST else mark.colour,
            ms=size * 1.2,
            mew=2.5,
            label=label,
        )[0]
    return axis.plot(
        [x],
        [y],
        mark.marker,
        mfc="none",
        mec=mark.colour,
        color=mark.colour,
        ms=size,
        mew=2,
        label=label,
    )[0]


def draw_marks(
    axis,
    marks: Mapping[str, tuple[float, float] | None],
    *,
    size: float = 11,
    window: tuple[float, float, float] | None = None,
):
    """Draw ``marks`` (label -> pixel ``(x, y)``; ``None`` skips it) on a matplotlib axis in
    the notation's style, labelled for a legend. ``window=(x, y, half_side)`` (pixels) adds
    the local window, a dashed square. Returns the drawn artists."""
    artists = []
    for label, point in marks.items():
        mark = mark_style(label)
        if point is None:
            continue
        if mark is WINDOW:
            raise ValueError("draw the window with window=(x, y, half_side), not as a point")
        artists.append(_plot(axis, mark, float(point[0]), float(point[1]), label, size))
    if window is not None:
        from matplotlib.patches import Rectangle

        x, y, half = window
        artists.append(
            axis.add_patch(
                Rectangle(
                    (x - half, y - half),
                    2 * half,
                    2 * half,
                    fill=False,
                    edgecolor=WINDOW.colour,
                    linestyle="--",
                    linewidth=1.5,
                    label="window",
                )
            )
        )
    return artists


def notation_legend(axis, roles: tuple[str, ...] | None = None, **legend_options):
    """A legend of the notation itself (every role, or ``roles``), independent of what the
    axis draws: for a figure whose marks are unlabelled. Returns the ``Legend``."""
    from matplotlib.lines import Line2D

    chosen = NOTATION if roles is None else tuple(mark_style(role) for role in roles)
    handles = []
    for mark in chosen:
        if mark is WINDOW:
            handles.append(Line2D([], [], color=mark.colour, linestyle="--", label=mark.role))
        elif mark.filled:
            colour = "white" if mark is BEST else mark.colour
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=mark.marker,
                    color=colour,
                    linestyle="none",
                    mew=2.5,
                    ms=10,
                    label=mark.role,
                )
            )
        else:
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=mark.marker,
                    mfc="none",
                    mec=mark.colour,
                    linestyle="none",
                    mew=2,
                    ms=9,
                    label=mark.role,
                )
            )
    options = {
        "loc": "lower right",
        "fontsize": "small",
        "framealpha": 0.8,
        "facecolor": "0.35",
    } | legend_options
    return axis.legend(handles=handles, **options)


def notation_markdown() -> str:
    """The notation as a Markdown table (the README's and the explorer's legend)."""
    rows = ["| mark | role | drawn as | meaning |", "|---|---|---|---|"]
    rows += [f"| {mark.glyph} | {mark.role} | {mark.drawn} | {mark.meaning} |" for mark in NOTATION]
    return "\n".join(rows)
