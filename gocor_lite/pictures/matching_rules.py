# SPDX-License-Identifier: MIT
"""Pictures of the matching rules (:mod:`gocor_lite.reading.rules`): every rule's map for one target
cell, and the calibration (sparsification) curves of :mod:`gocor_lite.evaluation.rule_scores`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from torch import Tensor

from gocor_lite.evaluation.rule_scores import RulesEvaluation


def draw_rule_maps(
    source_image: np.ndarray,
    maps: Mapping[str, Tensor | np.ndarray],
    *,
    marks: dict[str, tuple[float, float]] | None = None,
    columns: int = 4,
    titles: Mapping[str, str] | None = None,
    width: float = 3.2,
):
    """Every rule's map over the source for one target cell, each on its own colour scale.

    ``maps``: name -> ``(h', w')`` (:func:`gocor_lite.reading.rules.rule_maps`); ``marks``: as
    :func:`~gocor_lite.pictures.score_maps.draw_score_map` (e.g. the true match); ``titles``:
    name -> a title (default: the name). Returns a matplotlib ``Figure``.
    """
    from matplotlib.figure import Figure

    from gocor_lite.pictures.score_maps import draw_score_map

    names = list(maps)
    rows = -(-len(names) // columns)
    height, image_width = source_image.shape[:2]
    figure = Figure(
        figsize=(width * columns, width * rows * height / image_width + 0.5 * rows),
        layout="constrained",
    )
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, name in zip(axes.flat, names, strict=False):
        draw_score_map(
            axis,
            source_image,
            maps[name],
            marks=marks,
            title=(titles or {}).get(name, name),
            legend=False,
        )
    for axis in list(axes.flat)[len(names) :]:
        axis.set_axis_off()
    return figure


def draw_calibration(
    evaluation: RulesEvaluation, sets: Sequence[str] | None = None, *, size: float = 4.0
):
    """Sparsification curves per set (columns): top, every rule ranked by its own confidence;
    bottom, the confidence measures ranking the argmax's matches, with the oracle dashed.
    The x axis is the kept fraction (most confident first), the y axis the % of wrong matches
    among those kept. Returns a matplotlib ``Figure``."""
    from matplotlib.figure import Figure

    sets = list(evaluation.curves) if sets is None else list(sets)
    figure = Figure(figsize=(size * len(sets), 2 * size), layout="constrained")
    axes = figure.subplots(2, len(sets), squeeze=False, sharex=True)
    for column, set_name in enumerate(sets):
        top, bottom = axes[0, column], axes[1, column]
        for name, curve in evaluation.curves[set_name].items():
            top.plot(100 * curve.fractions, curve.wrong, marker=".", label=name)
        top.set_title(f"{set_name}: each rule, its own confidence")
        measures = evaluation.measures.get(set_name, {})
        for name, curve in measures.items():
            bottom.plot(100 * curve.fractions, curve.wrong, marker=".", label=name)
        if measures:  # the oracle depends on the matches only: the same for every measure
            curve = next(iter(measures.values()))
            bottom.plot(100 * curve.fractions, curve.oracle, "k--", label="oracle")
        bottom.set_title(f"{set_name}: confidences of the argmax")
        bottom.set_xlabel("most confident matches kept (%)")
        for axis in (top, bottom):
            axis.set_ylabel("wrong among them (%)")
            axis.grid(alpha=0.3)
            axis.set_ylim(bottom=0)
    axes[0, -1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    axes[1, -1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return figure
