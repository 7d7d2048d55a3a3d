# SPDX-License-Identifier: MIT
"""One target pixel's scores at every level of a GLU-Net trace, placed on the source image:
what the explorer and the notebooks draw level by level (:meth:`gocor_lite.glunet.GLUNet.trace`
computes; this module slices and places).

Convention:
    Maps are ``(H_s, W_s)`` float32 over the pixels of the source image as given to the trace,
    NaN where the level has no score. A pixel shows the level cell it lies in: cell
    ``floor((x + 0.5) / stride_x)`` (and the same in y), clamped to the grid, with the strides
    of the level's :class:`~gocor_lite.core.warp.Frame` in original pixels; the clicked target pixel
    picks its level cell the same way on the target. The **global** level scores every source
    cell. A **local** level scores the ``(2R+1)^2`` window of the target cell, entry
    ``[R+dy, R+dx]`` at the source position its warped feature was read from
    (:attr:`~gocor_lite.glunet.LevelView.warped_from` of target cell ``(y+dy, x+dx)``): each entry
    is drawn on the source cell nearest that position (the highest score where several land on
    one cell, none where it falls off the source), while best matches are reported at the exact
    positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gocor_lite.core.warp import Frame
from gocor_lite.glunet.network import LevelView
from gocor_lite.reading.matching import true_match

Point = tuple[float, float]  # (x, y) pixels


@dataclass(frozen=True)
class LevelScores:
    """One level's score maps for one target pixel, over the source image.

    ``maps[i]`` is named ``names[i]`` (``"GOCor iteration k"`` for each iteration of a GOCor
    level; ``"feature correlation"``, and for the global level also what its decoder reads
    after the post-processing, for a correlation level). Positions are ``(x, y)`` in original
    pixels: ``centre`` on the target, every other one on the source.
    """

    key: str  # "level4", "level3", "extra0", ..., "level2", "level1"
    title: str  # the level's own, e.g. "level 4: global GOCor, 16x16 cells of the 256x256 copies"
    kind: str  # "global" or "local"
    grid: tuple[int, int]  # (h, w) cells of this level
    search_radius: int | None  # R of a local level's window; None for the global level
    cell: tuple[int, int]  # (x, y) this level's target cell under the pixel
    centre: Point  # its centre, target pixels
    names: tuple[str, ...]
    maps: tuple[np.ndarray, ...]  # (H_s, W_s) float32 each, NaN where no score
    best: tuple[Point | None, ...]  # each map's highest score (None: the map has no score)
    peaks: tuple[float, ...]  # those scores (NaN where none)
    window: tuple[float, float, float, float] | None  # local: box x0, y0, x1, y1 round the
    # window's cells on the source; None for the global level or a window wholly off the source
    flow_match: Point  # where this level's flow sends the cell's centre
    true_match: Point | None  # where the ground truth sends it, if known

    @property
    def errors(self) -> tuple[float | None, ...]:
        """Distance from each map's best match to the true match (pixels), where both exist."""
        return tuple(
            None if best is None or self.true_match is None else math.dist(best, self.true_match)
            for best in self.best
        )

    @property
    def flow_error(self) -> float | None:
        """Distance from the level's flow to the true match (pixels), if the truth is known."""
        return None if self.true_match is None else math.dist(self.flow_match, self.true_match)


def level_scores(
    levels: Sequence[LevelView],
    pixel: Point,
    true_flow: np.ndarray | None = None,
    batch_index: int = 0,
) -> list[LevelScores]:
    """Every level's score maps of the target pixel ``pixel = (x, y)`` (original target
    pixels), coarse to fine, for pair ``batch_index`` of a trace's ``levels``
    (``trace.levels``). ``true_flow`` ``(2, H_t, W_t)`` (x then y, NaN = unknown; the pair's
    ground truth, if any) adds each level's true match, read at its cell's centre."""
    return [_level(view, pixel, true_flow, batch_index) for view in levels]


def _level(
    view: LevelView, pixel: Point, true_flow: np.ndarray | None, batch_index: int
) -> LevelScores:
    b = batch_index
    grid = view.target_frame.grid
    cx, cy = _cell_under(pixel, view.target_frame)
    centre = (
        float((cx + 0.5) * view.target_frame.stride[0] - 0.5),
        float((cy + 0.5) * view.target_frame.stride[1] - 0.5),
    )
    flow = view.cell_flow[b, :, cy, cx].detach().double().cpu()
    flow_match = (centre[0] + float(flow[0]), centre[1] + float(flow[1]))
    if view.gocor is not None:
        volumes = list(view.gocor.volumes)
        names = [f"GOCor iteration {k}" for k in range(len(volumes))]
    else:
        volumes = [view.volume]
        names = ["feature correlation"]
        if view.kind == "global":
            volumes.append(view.decoder_volume)
            names.append("post-processed (what its decoder reads)")
    source_size = _image_size(view.source_frame)
    maps, best, peaks = [], [], []
    window_box = None
    radius = None
    for volume in volumes:
        scores = volume[b, cy, cx].detach().float().cpu()  # (h', w') or (2R+1, 2R+1)
        if view.kind == "global":
            on_cells, position, peak = _global(scores, view.source_frame)
        else:
            assert view.warped_from is not None, "a local level has warped_from"
            radius = scores.shape[-1] // 2
            positions = _window_positions(view.warped_from[b], (cx, cy), radius)
            on_cells, position, peak, window_box = _local(scores, positions, view.source_frame)
        maps.append(_to_pixels(on_cells, view.source_frame, source_size))
        best.append(position)
        peaks.append(peak)
    return LevelScores(
        key=view.key,
        title=view.title,
        kind=view.kind,
        grid=grid,
        search_radius=radius,
        cell=(cx, cy),
        centre=centre,
        names=tuple(names),
        maps=tuple(maps),
        best=tuple(best),
        peaks=tuple(peaks),
        window=window_box,
        flow_match=flow_match,
        true_match=true_match(true_flow, centre),
    )


def _image_size(frame: Frame) -> tuple[int, int]:
    """``(H, W)`` of the original image a level's frame covers (its grid spans it evenly)."""
    (height, width), (stride_x, stride_y) = frame.grid, frame.stride
    return (round(height * stride_y), round(width * stride_x))


def _cell_under(pixel: Point, frame: Frame) -> tuple[int, int]:
    """The ``(x, y)`` cell a pixel lies in (module convention), clamped to the grid."""
    (height, width), (stride_x, stride_y) = frame.grid, frame.stride
    column = min(max(math.floor((pixel[0] + 0.5) / stride_x), 0), width - 1)
    row = min(max(math.floor((pixel[1] + 0.5) / stride_y), 0), height - 1)
    return column, row


def _cell_centre(cell: tuple[float, float], frame: Frame) -> Point:
    return (
        float((cell[0] + 0.5) * frame.stride[0] - 0.5),
        float((cell[1] + 0.5) * frame.stride[1] - 0.5),
    )


def _global(scores: Tensor, frame: Frame) -> tuple[Tensor, Point | None, float]:
    """A global map: the scores on the source cells as they are, its best cell's centre."""
    finite = torch.where(torch.isfinite(scores), scores, torch.full_like(scores, -math.inf))
    if not torch.isfinite(finite).any():
        return scores, None, math.nan
    index = int(torch.argmax(finite))
    row, column = divmod(index, scores.shape[1])
    return scores, _cell_centre((column, row), frame), float(scores[row, column])


def _window_positions(warped_from: Tensor, cell: tuple[int, int], radius: int) -> Tensor:
    """Source pixels each window entry of ``cell`` reads: ``(2R+1, 2R+1, 2)`` (x, y), NaN where
    the entry's target cell ``(y+dy, x+dx)`` is off the grid (dy-major: ``[R+dy, R+dx]``)."""
    _, height, width = warped_from.shape
    cx, cy = cell
    side = 2 * radius + 1
    out = torch.full((side, side, 2), math.nan, dtype=torch.float64)
    source = warped_from.detach().double().cpu()
    for row in range(side):
        y = cy + row - radius
        if not 0 <= y < height:
            continue
        for column in range(side):
            x = cx + column - radius
            if 0 <= x < width:
                out[row, column] = source[:, y, x]
    return out


def _local(
    scores: Tensor, positions: Tensor, frame: Frame
) -> tuple[Tensor, Point | None, float, tuple[float, float, float, float] | None]:
    """A window's scores scattered onto the source cells nearest their positions (the highest
    where several meet), NaN elsewhere; the best entry's exact position and score; the box round
    the window's cells."""
    (height, width), (stride_x, stride_y) = frame.grid, frame.stride
    column = torch.round((positions[..., 0] + 0.5) / stride_x - 0.5)  # nearest cell centre
    row = torch.round((positions[..., 1] + 0.5) / stride_y - 0.5)
    valid = torch.isfinite(column) & torch.isfinite(row) & torch.isfinite(scores.double())
    valid &= (column >= 0) & (column < width) & (row >= 0) & (row < height)
    cells = torch.full((height * width,), -math.inf, dtype=torch.float32)
    if not valid.any():
        return cells.fill_(math.nan).view(height, width), None, math.nan, None
    index = (row[valid] * width + column[valid]).long()
    cells.scatter_reduce_(0, index, scores[valid].float(), reduce="amax")
    cells = torch.where(torch.isinf(cells), torch.full_like(cells, math.nan), cells)
    masked = torch.where(valid, scores.double(), torch.full_like(scores.double(), -math.inf))
    entry = int(torch.argmax(masked))
    best_row, best_column = divmod(entry, scores.shape[1])
    best = positions[best_row, best_column]
    box = (
        float((column[valid].min() * stride_x) - 0.5),
        float((row[valid].min() * stride_y) - 0.5),
        float(((column[valid].max() + 1) * stride_x) - 0.5),
        float(((row[valid].max() + 1) * stride_y) - 0.5),
    )
    peak = float(scores[best_row, best_column])
    return cells.view(height, width), (float(best[0]), float(best[1])), peak, box


def _to_pixels(cells: Tensor, frame: Frame, size: tuple[int, int]) -> np.ndarray:
    """A per-cell map ``(h, w)`` on the image's pixels ``(H, W)`` (module convention)."""
    (height, width), (stride_x, stride_y) = frame.grid, frame.stride
    rows = ((torch.arange(size[0], dtype=torch.float64) + 0.5) / stride_y).floor().long()
    columns = ((torch.arange(size[1], dtype=torch.float64) + 0.5) / stride_x).floor().long()
    rows, columns = rows.clamp(0, height - 1), columns.clamp(0, width - 1)
    return cells.float()[rows][:, columns].numpy()
