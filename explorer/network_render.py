# SPDX-License-Identifier: MIT
"""Pictures of the network view's levels for one clicked pixel: one row per level of the
chosen GLU-Net network (coarse to fine), one tile per map of that level (GOCor's iterations, or
the feature correlation), each over the source image with its best match, the true match, the
level's own flow and, for a local level, the box round its window.

Draws what :func:`explorer.network_compute.probe` sliced (:class:`~gocor_lite.pictures.levels.
LevelScores`), with the score-map drawing of :mod:`explorer.render`: numpy and Pillow, a few
tens of ms per click.
"""

from __future__ import annotations

import math

import numpy as np

from explorer import render
from explorer.network_compute import NetworkComputed
from gocor_lite.pictures.levels import LevelScores

TILE_SIDE = 240  # px: each map is enlarged (integer factor) to at least this longer side
GAP = 6  # px between tiles


def levels_picture(
    flow: NetworkComputed, levels: list[LevelScores], colour_scale: str
) -> np.ndarray:
    """Every level's maps for one pixel, ``uint8 (H, W, 3)``: per level a title band (the
    level, its resolution and what its maps are), then its tiles side by side."""
    source = flow.pair.source
    scale = max(1, math.ceil(TILE_SIDE / max(source.shape[:2])))
    rows = [_row(source, level, colour_scale, scale) for level in levels]
    width = max(row.shape[1] for row in rows)
    padded = [
        np.pad(row, ((0, GAP), (0, width - row.shape[1]), (0, 0)), constant_values=255)
        for row in rows
    ]
    return np.concatenate(padded, axis=0)


def describe(level: LevelScores) -> str:
    """What a level's maps are, in words (the second line of its band)."""
    height, width = level.grid
    if level.kind == "global":
        what = f"cell {level.cell} of the target against all {width}×{height} source cells"
    else:
        side = 2 * (level.search_radius or 0) + 1
        what = (
            f"cell {level.cell}'s {side}×{side} window after warping by the coarser flow, "
            "drawn where it reads the source"
        )
    if level.flow_error is not None:
        what += f"; this level's flow: {level.flow_error:.1f} px off"
    return what


def _row(source: np.ndarray, level: LevelScores, colour_scale: str, scale: int) -> np.ndarray:
    tiles = [_tile(source, level, index, colour_scale, scale) for index in range(len(level.maps))]
    height = max(tile.shape[0] for tile in tiles)
    width = sum(tile.shape[1] for tile in tiles) + GAP * (len(tiles) - 1)
    strip = np.full((height, width, 3), 255, np.uint8)
    x = 0
    for tile in tiles:
        strip[: tile.shape[0], x : x + tile.shape[1]] = tile
        x += tile.shape[1] + GAP
    size = max(14, round(tiles[0].shape[1] / 18))
    bands = [
        render._title_band(level.title, width, size),
        render._title_band(describe(level), width, max(12, size - 3)),
    ]
    return np.concatenate([*bands, strip], axis=0)


def _tile(
    source: np.ndarray, level: LevelScores, index: int, colour_scale: str, scale: int
) -> np.ndarray:
    scores = level.maps[index]
    value_range = _range(scores, colour_scale)
    coloured = render._overlay_image(source, scores, 1, value_range, scale=scale)
    marks = render._Marks(coloured, scale)
    if level.window is not None:
        marks.window(level.window)
    if level.true_match is not None:
        marks.truth(level.true_match)
    marks.estimate(level.flow_match)
    best = level.best[index]
    if best is not None:
        marks.best(best)
    caption = "no score on the source" if best is None else f"peak {level.peaks[index]:.2f}"
    error = level.errors[index]
    if error is not None:
        caption += f" · error {error:.0f} px"
    if colour_scale == render.COLOUR_SCALES[0] and best is not None:
        caption += f"\ncolours {value_range[0]:.2f} … {value_range[1]:.2f}"
    marks.caption(caption)
    marks.title(level.names[index])
    return marks.array()


def _range(scores: np.ndarray, colour_scale: str) -> tuple[float, float]:
    if colour_scale != render.COLOUR_SCALES[0]:
        return render.SHARED_RANGE
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return render.SHARED_RANGE
    low, high = float(finite.min()), float(finite.max())
    return (low, high if high > low else low + 1e-6)
