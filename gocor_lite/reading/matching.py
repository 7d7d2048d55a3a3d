# SPDX-License-Identifier: MIT
"""From a volume to matches and flows: the one home of reading a correlation volume.

Everything that turns scores into positions lives here and is shared by the app, the
notebooks, the flow pipeline, training and evaluation: the best source cell of each target
cell (:func:`best_match`), a sub-cell argmax (:func:`argmax_position`), soft-argmaxes over the
whole volume (:func:`soft_argmax`) or around the peak (:func:`soft_argmax_position`), the best
displacement of a local window and its best source cell over the whole image
(:func:`local_best_match`), per-cell matches -> a dense flow (:func:`matches_to_flow`), and
what one target cell sees (its window placed on the source grid, also after GLU-Net's coarse
warp; the true match a ground-truth flow gives).

Convention:
    Matches are source *cell* coordinates ``(B, 2, h, w)`` on the target grid (channel 0 = x,
    1 = y). Global volumes ``(B, h, w, h', w')`` and local volumes ``(B, h, w, 2R+1, 2R+1)``
    share a layout: the last two axes are a grid (source cells, or the window ``[R+dy, R+dx]``),
    and a position on it is ``(x, y)`` along ``(w', h')``. Flow is in *pixels*, ``(B, 2, H, W)``
    on the target image, such that target pixel ``p`` corresponds to source pixel
    ``p + flow(p)`` (GLU-Net's convention). Cells and pixels are related by
    :mod:`gocor_lite.core.grid`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from gocor_lite._checks import check_feature_map, check_radius, check_volume
from gocor_lite.core.grid import cell_grid, cell_to_pixel
from gocor_lite.core.warp import Frame, dense_flow


def best_match(volume: Tensor) -> Tensor:
    """Source cell of the highest score for each target cell.

    Shapes: ``(B, h, w, h', w') -> (B, 2, h, w)`` (x, y), integer-valued, volume's dtype.
    """
    volume = check_volume(volume, "global")
    source_width = volume.shape[-1]
    index = volume.flatten(-2).argmax(-1)  # (B, h, w)
    match = torch.stack([index % source_width, index // source_width], dim=1)
    return match.to(volume.dtype)


def soft_argmax(volume: Tensor, temperature: float = 0.02) -> Tensor:
    """Expected source cell under ``softmax(volume / temperature)`` over the source cells.

    Shapes: ``(B, h, w, h', w') -> (B, 2, h, w)`` (x, y), fractional. A small temperature
    approaches :func:`best_match`; a large one averages over the whole source image.
    """
    volume = check_volume(volume, "global")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    source_height, source_width = volume.shape[-2:]
    weights = torch.softmax(volume.flatten(-2) / temperature, dim=-1)  # (B, h, w, h'w')
    coords = cell_grid(source_height, source_width, like=volume).flatten(1)  # (2, h'w')
    return torch.einsum("bhwn,cn->bchw", weights, coords)


def best_displacement(volume: Tensor) -> Tensor:
    """Displacement ``(dx, dy)`` in cells of the highest score of each local window.

    Shapes: ``(B, h, w, 2R+1, 2R+1) -> (B, 2, h, w)``.
    """
    volume = check_volume(volume, "local")
    size = volume.shape[-1]
    radius = size // 2
    index = volume.flatten(-2).argmax(-1)  # (B, h, w), dy-major
    displacement = torch.stack([index % size - radius, index // size - radius], dim=1)
    return displacement.to(volume.dtype)


def matches_to_flow(
    matches: Tensor,
    target_stride: float,
    image_size: tuple[int, int],
    source_stride: float | None = None,
) -> Tensor:
    """Dense flow in pixels from per-cell source matches.

    Shapes: matches ``(B, 2, h, w)`` (source cells) -> flow ``(B, 2, H, W)``, ``image_size =
    (H, W)`` of the target image. The flow at cell centres is exact; between them it is
    bilinear, and constant beyond the outer centres (:func:`gocor_lite.core.warp.dense_flow`, which
    the flow pipeline uses too: one densification for every consumer).
    """
    source_stride = target_stride if source_stride is None else source_stride
    height, width = matches.shape[2:]
    target_pixels = cell_to_pixel(cell_grid(height, width, like=matches), target_stride)
    source_pixels = cell_to_pixel(matches, source_stride)
    flow = source_pixels - target_pixels  # (B, 2, h, w), pixels at the target cell centres
    frame = Frame((height, width), (float(target_stride), float(target_stride)))
    return dense_flow(flow, frame, image_size)


def global_volume_to_flow(
    volume: Tensor,
    target_stride: float,
    image_size: tuple[int, int],
    *,
    source_stride: float | None = None,
    method: Literal["argmax", "soft-argmax"] = "argmax",
    temperature: float = 0.02,
) -> Tensor:
    """The flow of a global volume's best matches: ``(B, h, w, h', w') -> (B, 2, H, W)``."""
    if method == "argmax":
        matches = best_match(volume)
    elif method == "soft-argmax":
        matches = soft_argmax(volume, temperature)
    else:
        raise ValueError(f"method must be 'argmax' or 'soft-argmax', got {method!r}")
    return matches_to_flow(matches, target_stride, image_size, source_stride)


def local_window_on_source(
    volume: Tensor,
    cell: tuple[int, int],
    source_grid: tuple[int, int],
    centre: tuple[int, int] | None = None,
    fill: float = float("nan"),
) -> Tensor:
    """One target cell's local window placed on the source grid.

    Shapes: volume ``(B, h, w, 2R+1, 2R+1)`` -> ``(B, h', w')``, ``fill`` outside the window.
    ``cell`` is the target cell ``(x, y)``; ``centre`` the source cell the window is centred on
    (default: the same coordinates as ``cell``, as for local correlation without a prior flow).
    """
    volume = check_volume(volume, "local")
    x, y = cell
    centre_x, centre_y = cell if centre is None else centre
    radius = volume.shape[-1] // 2
    source_height, source_width = source_grid
    out = volume.new_full((volume.shape[0], source_height, source_width), fill)
    window = volume[:, y, x]  # (B, 2R+1, 2R+1)
    top, left = centre_y - radius, centre_x - radius
    y0, y1 = max(top, 0), min(top + 2 * radius + 1, source_height)
    x0, x1 = max(left, 0), min(left + 2 * radius + 1, source_width)
    if y0 < y1 and x0 < x1:
        out[:, y0:y1, x0:x1] = window[:, y0 - top : y1 - top, x0 - left : x1 - left]
    return out


def cells_to_pixels(score_map: Tensor, stride: int, image_size: tuple[int, int]) -> Tensor:
    """Show a per-cell map on the image it was computed from: each pixel takes its cell's value.

    Shapes: ``(..., h, w) -> (..., H, W)``; pixel ``(x, y)`` reads cell
    ``(floor((x+0.5)/stride), floor((y+0.5)/stride))``, clamped to the grid.
    """
    height, width = score_map.shape[-2:]
    image_height, image_width = image_size
    rows = ((torch.arange(image_height, device=score_map.device) + 0.5) / stride).floor()
    cols = ((torch.arange(image_width, device=score_map.device) + 0.5) / stride).floor()
    rows = rows.long().clamp(0, height - 1)
    cols = cols.long().clamp(0, width - 1)
    return score_map[..., rows, :][..., cols]


def _gather(flat: Tensor, index: Tensor) -> Tensor:
    """``flat (B, h, w, N)`` read at ``index (B, h, w, K)`` -> ``(B, h, w, K)``."""
    return torch.gather(flat, -1, index)


def argmax_position(volume: Tensor, subcell: bool = True) -> Tensor:
    """Position of each target cell's highest score, refined below one cell by a parabola.

    Shapes: ``(B, h, w, a, b) -> (B, 2, h, w)`` (x along ``b``, y along ``a``).

    The refinement fits, along x and along y separately, the parabola through the peak and its
    two neighbours and moves to its vertex (at most half a cell); at the grid's edge, or where
    the three scores are not a strict peak, it keeps the integer position.
    """
    rows, cols = volume.shape[-2:]
    flat = volume.flatten(-2)  # (B, h, w, a*b)
    index = flat.argmax(-1, keepdim=True)  # (B, h, w, 1)
    x, y = index % cols, index // cols
    position = [x.to(volume.dtype), y.to(volume.dtype)]
    if subcell:
        centre = _gather(flat, index)
        for axis, (coord, size, step) in enumerate(((x, cols, 1), (y, rows, cols))):
            inside = (coord > 0) & (coord < size - 1)
            before = _gather(flat, torch.where(inside, index - step, index))
            after = _gather(flat, torch.where(inside, index + step, index))
            curvature = before - 2 * centre + after  # < 0 at a strict peak
            peak = inside & (curvature < 0)
            offset = 0.5 * (before - after) / torch.where(peak, curvature, -torch.ones_like(centre))
            position[axis] = position[axis] + torch.where(peak, offset.clamp(-0.5, 0.5), 0.0)
    return torch.cat(position, dim=-1).permute(0, 3, 1, 2)  # (B, 2, h, w)


def soft_argmax_position(volume: Tensor, window: int = 2, temperature: float = 0.05) -> Tensor:
    """Expected position under ``softmax(scores / temperature)`` over the cells within
    ``window`` cells (in x and in y) of the highest score.

    Shapes: ``(B, h, w, a, b) -> (B, 2, h, w)``. Restricting the average to the peak's
    neighbourhood keeps a second, distant mode (repeated structure) from pulling the estimate
    between the two, which a soft-argmax over the whole volume does.
    """
    rows, cols = volume.shape[-2:]
    flat = volume.flatten(-2)  # (B, h, w, a*b)
    index = flat.argmax(-1, keepdim=True)
    x, y = index % cols, index // cols
    steps = torch.arange(-window, window + 1, device=volume.device)
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")
    xs, ys = x + dx.flatten(), y + dy.flatten()  # (B, h, w, (2k+1)^2)
    inside = (xs >= 0) & (xs < cols) & (ys >= 0) & (ys < rows)
    scores = _gather(flat, torch.where(inside, ys * cols + xs, index))
    weights = torch.softmax(scores.masked_fill(~inside, float("-inf")) / temperature, dim=-1)
    position = torch.stack(
        [(weights * xs.to(volume.dtype)).sum(-1), (weights * ys.to(volume.dtype)).sum(-1)], dim=1
    )
    return position  # (B, 2, h, w)


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


def _map_cells(rows: Tensor, cols: Tensor, grid: tuple[int, int], matches: Tensor | None) -> Tensor:
    """The source cell ``(x, y)`` that reading the map of size ``grid = (h, w)`` at cells
    ``(cols, rows)`` (long tensors of one shape ``S``) reads: the cell itself without
    ``matches``, the coarse match ``matches[:, row, col]`` with them (the map is then the
    warped source). Shapes: -> ``(*S, 2)`` long, on the CPU, ``-1`` outside the map."""
    height, width = grid
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    if matches is None:
        sources = torch.stack([cols, rows], dim=-1)
    else:
        if matches.dim() != 3 or tuple(matches.shape) != (2, height, width):
            raise ValueError(
                f"matches must have shape (2, {height}, {width}), got {tuple(matches.shape)}"
            )
        flat = matches.round().long().cpu().flatten(1)  # (2, h * w)
        index = rows.clamp(0, height - 1) * width + cols.clamp(0, width - 1)
        sources = flat[:, index].movedim(0, -1)  # (*S, 2)
    return torch.where(inside[..., None], sources, torch.full_like(sources, -1))


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
    x, y = cell
    steps = torch.arange(-radius, radius + 1)
    rows = (y + steps)[:, None].expand(-1, 2 * radius + 1)  # (2R+1, 2R+1), dy-major
    cols = (x + steps)[None, :].expand(2 * radius + 1, -1)
    return _map_cells(rows, cols, grid, matches)


def all_window_sources(
    target_grid: tuple[int, int],
    radius: int,
    grid: tuple[int, int],
    matches: Tensor | None = None,
) -> Tensor:
    """:func:`window_sources` for every target cell at once.

    Shapes: -> ``(h, w, 2R+1, 2R+1, 2)`` long (x, y) for the ``target_grid = (h, w)`` cells,
    ``-1`` where an entry reads outside the map. ``grid`` and ``matches`` ``(2, h, w)`` are as
    in :func:`window_sources` (with ``matches`` the map is the warped source, on the target
    grid, so ``grid`` is ``target_grid``).
    """
    radius = check_radius(radius)
    height, width = target_grid
    steps = torch.arange(-radius, radius + 1)
    # (h, w, 2R+1, 2R+1): the map cell that entry [R+dy, R+dx] of cell (x, y) reads, dy-major
    rows = torch.arange(height)[:, None, None, None] + steps[None, None, :, None]
    cols = torch.arange(width)[None, :, None, None] + steps[None, None, None, :]
    rows, cols = torch.broadcast_tensors(rows, cols)
    return _map_cells(rows, cols, grid, matches)


def local_best_match(
    volume: Tensor, source_grid: tuple[int, int], matches: Tensor | None = None
) -> Tensor:
    """The source cell of each target cell's best local score, among the window entries that
    read a source cell (entries outside the map, where the correlation is zero padding, never
    win): the whole-image form of the best match the app draws on one window.

    Shapes: volume ``(B, h, w, 2R+1, 2R+1)``, matches ``(B, 2, h, w)`` coarse matches (source
    cells, as given to :func:`warp_by_matches`) or ``None`` (windows at the same position) ->
    ``(B, 2, h, w)`` source cells (x, y) in the volume's dtype, NaN where no entry reads the
    source.

    Convention:
        Entry ``[R+dy, R+dx]`` of target cell ``(x, y)`` reads source cell ``(x+dx, y+dy)``
        without ``matches``, or the coarse match of target cell ``(x+dx, y+dy)`` with them
        (:func:`window_sources`). Ties go to the first entry in dy-major order.
    """
    volume = check_volume(volume, "local")
    batch, height, width, size = volume.shape[:4]
    radius = size // 2
    results = []
    for index in range(batch):
        coarse = None if matches is None else matches[index]
        grid = source_grid if coarse is None else (height, width)
        sources = all_window_sources((height, width), radius, grid, coarse).to(volume.device)
        flat_sources = sources.flatten(2, 3)  # (h, w, S*S, 2)
        valid = (flat_sources[..., 0] >= 0) & (flat_sources[..., 0] < source_grid[1])
        valid &= (flat_sources[..., 1] >= 0) & (flat_sources[..., 1] < source_grid[0])
        scores = volume[index].flatten(-2).masked_fill(~valid, float("-inf"))  # (h, w, S*S)
        best = scores.argmax(-1)  # (h, w)
        picked = flat_sources.gather(2, best[..., None, None].expand(-1, -1, 1, 2))[:, :, 0]
        found = valid.any(-1)  # (h, w)
        cells = picked.permute(2, 0, 1).to(volume.dtype)  # (2, h, w)
        results.append(torch.where(found, cells, torch.full_like(cells, float("nan"))))
    return torch.stack(results)


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

    ``flow`` is ``(2, H, W)`` (x then y, NaN where unknown, as :class:`~gocor_lite.data.examples.
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
