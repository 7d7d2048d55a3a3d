# SPDX-License-Identifier: MIT
"""What one target cell sees: local windows placed on the source grid (also after GLU-Net's
coarse warp), and the true match that a ground-truth flow gives.

Convention:
    Cells and pixels are ``(x, y)`` (column first), related by :mod:`gocor_lite.grid`. A local
    volume's entry ``[y, x, R+dy, R+dx]`` scores target cell ``(x, y)`` against the cell
    ``(x+dx, y+dy)`` *of the map it was computed with*. When that map is the source warped by
    coarse matches (:func:`warp_by_matches`), the score belongs to source cell
    ``matches[:, y+dy, x+dx]``: :func:`window_sources` says which source cell each entry reads.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from gocor_lite._checks import check_feature_map, check_radius


def warp_by_matches(source: Tensor, matches: Tensor) -> Tensor:
    """The source features read at each target cell's matched source cell (nearest cell).

    Shapes: source ``(B, C, h', w')``, matches ``(B, 2, h, w)`` (source cells, x then y, rounded
    and clamped to the grid) -> ``(B, C, h, w)``.

    GLU-Net warps the source features by its coarse flow before the local correlation, so that
    the search window of a target cell is centred on its coarse match rather than on the same
    coordinates.
    """
    source = check_feature_map("source", source)
    batch, channels, source_height, source_width = source.shape
    if matches.dim() != 4 or matches.shape[:2] != (batch, 2):
        raise ValueError(f"matches must have shape ({batch}, 2, h, w), got {tuple(matches.shape)}")
    x = matches[:, 0].round().long().clamp(0, source_width - 1)
    y = matches[:, 1].round().long().clamp(0, source_height - 1)
    index = (y * source_width + x).flatten(1)  # (B, h*w), row-major source cell
    gathered = source.flatten(2).gather(2, index[:, None].expand(-1, channels, -1))
    return gathered.view(batch, channels, *matches.shape[2:])  # (B, C, h, w)


def window_sources(
    cell: tuple[int, int],
    radius: int,
    grid: tuple[int, int],
    matches: Tensor | None = None,
) -> Tensor:
    """The source cell that each entry of one local window reads.

    Shapes: -> ``(2R+1, 2R+1, 2)`` long (x, y), ``-1`` where the entry reads outside the map
    (the local correlation is zero there). ``grid = (h, w)`` is the size of the map the local
    correlation was computed with. Without ``matches`` that map is the source itself, so entry
    ``[R+dy, R+dx]`` reads ``(x+dx, y+dy)``; with ``matches`` ``(2, h, w)`` (the coarse match of
    every target cell, as given to :func:`warp_by_matches`) it reads ``matches[:, y+dy, x+dx]``.
    """
    radius = check_radius(radius)
    height, width = grid
    x, y = cell
    steps = torch.arange(-radius, radius + 1)
    rows = (y + steps)[:, None].expand(-1, 2 * radius + 1)  # (2R+1, 2R+1), dy-major
    cols = (x + steps)[None, :].expand(2 * radius + 1, -1)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    if matches is None:
        sources = torch.stack([cols, rows], dim=-1)
    else:
        if matches.dim() != 3 or tuple(matches.shape) != (2, height, width):
            raise ValueError(
                f"matches must have shape (2, {height}, {width}), got {tuple(matches.shape)}"
            )
        flat = matches.round().long().flatten(1)  # (2, h*w)
        index = (rows.clamp(0, height - 1) * width + cols.clamp(0, width - 1)).flatten()
        sources = flat[:, index].T.reshape(2 * radius + 1, 2 * radius + 1, 2)
    return torch.where(inside[..., None], sources, torch.full_like(sources, -1))


def scatter_window(
    window: Tensor, sources: Tensor, source_grid: tuple[int, int], fill: float = float("nan")
) -> Tensor:
    """Place one window's scores on the source grid at the cells :func:`window_sources` gives.

    Shapes: window ``(2R+1, 2R+1)``, sources ``(2R+1, 2R+1, 2)`` -> ``(h', w')``, ``fill``
    where no entry lands. Where several entries read the same source cell (a warp can repeat
    cells), the highest score is kept.
    """
    if window.shape != sources.shape[:2]:
        raise ValueError(f"window {tuple(window.shape)} and sources {tuple(sources.shape)} differ")
    height, width = source_grid
    valid = (sources[..., 0] >= 0) & (sources[..., 1] >= 0)
    valid &= (sources[..., 0] < width) & (sources[..., 1] < height)
    index = (sources[..., 1] * width + sources[..., 0])[valid]
    out = window.new_full((height * width,), float("-inf"))
    out.scatter_reduce_(0, index, window[valid], reduce="amax")
    out = torch.where(torch.isinf(out) & (out < 0), torch.full_like(out, fill), out)
    return out.view(height, width)


def true_match(flow: np.ndarray | None, pixel: tuple[float, float]) -> tuple[float, float] | None:
    """Where a ground-truth flow sends a target pixel: ``pixel + flow`` read at the nearest pixel.

    ``flow`` is ``(2, H, W)`` (x then y, NaN where unknown, as :class:`~gocor_lite.examples.
    ExamplePair` holds it). Returns ``None`` without a flow, outside it, or where it is unknown.
    """
    if flow is None:
        return None
    x, y = pixel
    column, row = round(x), round(y)
    if not (0 <= row < flow.shape[1] and 0 <= column < flow.shape[2]):
        return None
    flow_x, flow_y = float(flow[0, row, column]), float(flow[1, row, column])
    if not (np.isfinite(flow_x) and np.isfinite(flow_y)):
        return None
    return (x + flow_x, y + flow_y)
