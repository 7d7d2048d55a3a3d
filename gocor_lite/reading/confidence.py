# SPDX-License-Identifier: MIT
"""How sure is a match? Per-target-cell confidences read from a global volume.

Three measures, each a map ``(B, h, w)`` over the target cells:

* :func:`peak_ratio`: the best score over the best score *outside* a small neighbourhood of
  it (the second peak). Near 1: a look-alike scores as high as the match (repeated
  structure); large: one clear peak. The stereo literature's "peak ratio", Lowe's ratio test
  read the other way up.
* :func:`mass_within`: the probability mass within ``R`` cells of the best match, for a volume
  read as a distribution over the source (:func:`gocor_lite.reading.rules.softmax_probability`). 1:
  all the belief sits on the match; small: it is spread over several places.
* :func:`cycle_error`: the forward-backward (cyclic) consistency error in target cells: follow a
  target cell to its best source cell, then that source cell to *its* best target cell, and
  measure how far from the start it lands. 0 means mutual nearest neighbours. For dense flows,
  :func:`flow_cycle_error` does the same in pixels with a backward flow.

Convention:
    Volumes are ``(B, h, w, h', w')``, indexed ``[b, target_y, target_x, source_y, source_x]``
    (:mod:`gocor_lite.core.correlation`); "within ``R`` cells" is the square window
    ``|dx| <= R, |dy| <= R`` (Chebyshev distance), as the local correlation's window. Higher
    means surer for :func:`peak_ratio` and :func:`mass_within`; *lower* means surer for the
    cycle errors (they are errors, not confidences).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gocor_lite._checks import check_flow, check_radius, check_volume
from gocor_lite.core.grid import cell_grid
from gocor_lite.core.warp import warp


def _window_mask(volume: Tensor, centre: Tensor, radius: int) -> Tensor:
    """True on the source cells within ``radius`` (Chebyshev) of each target cell's ``centre``.

    Shapes: volume ``(B, h, w, h', w')``, centre ``(B, 2, h, w)`` source cells -> bool like
    the volume.
    """
    source_height, source_width = volume.shape[-2:]
    grid = cell_grid(source_height, source_width, like=volume)  # (2, h', w')
    offset = grid[None, :, None, None] - centre[..., None, None]  # (B, 2, h, w, h', w')
    return offset.abs().amax(dim=1) <= radius + 1e-6


def best_cells(volume: Tensor) -> Tensor:
    """The source cell of each target cell's highest score.

    Shapes: ``(B, h, w, h', w') -> (B, 2, h, w)``, channel 0 = x, integer-valued.

    Convention:
        Ties go to the first source cell in row-major order (``torch.argmax``).
    """
    volume = check_volume(volume)
    source_width = volume.shape[-1]
    index = volume.flatten(-2).argmax(-1)  # (B, h, w)
    return torch.stack([index % source_width, index // source_width], dim=1).to(volume.dtype)


def peak_ratio(volume: Tensor, exclusion_radius: int = 1, eps: float = 1e-6) -> Tensor:
    """Best score over the second peak: the best score outside ``exclusion_radius`` cells of it.

    Shapes: ``(B, h, w, h', w') -> (B, h, w)``, ``>= 1`` where the best score is positive.

    Convention:
        Both scores are clamped below at ``eps`` before dividing, so that the ratio is finite
        and grows as the second peak falls: a second peak at or below zero gives
        ``best / eps`` (no competitor at all). The neighbours of the best cell are excluded
        because a peak is a few cells wide: the cell next to the match is not a competitor.
        Where every source cell lies within the exclusion window, the second peak is taken as
        absent (``eps``).

    >>> volume = torch.zeros(1, 1, 1, 1, 5)
    >>> volume[..., 0], volume[..., 1], volume[..., 4] = 0.8, 0.7, 0.4
    >>> float(peak_ratio(volume, exclusion_radius=1))  # 0.7 is next to the peak: 0.8 / 0.4
    2.0
    """
    volume = check_volume(volume)
    exclusion_radius = check_radius(exclusion_radius, "exclusion_radius")
    best = volume.flatten(-2).amax(-1)  # (B, h, w)
    near = _window_mask(volume, best_cells(volume), exclusion_radius)
    second = volume.masked_fill(near, float("-inf")).flatten(-2).amax(-1)
    return best.clamp(min=eps) / second.clamp(min=eps)


def mass_within(probability: Tensor, radius: int = 1, centre: Tensor | None = None) -> Tensor:
    """Probability mass within ``radius`` cells of each target cell's match.

    Shapes: probability ``(B, h, w, h', w')``, centre ``(B, 2, h, w)`` source cells (default:
    the most probable cell) -> ``(B, h, w)`` in ``[0, 1]``.

    Convention:
        Each target cell's map is a distribution over the source cells (sums to at most 1,
        e.g. :func:`gocor_lite.reading.rules.softmax_probability`); the window is the square
        ``|dx|, |dy| <= radius`` around ``centre``, cut at the grid's border.
    """
    probability = check_volume(probability, name="probability")
    radius = check_radius(radius, "radius")
    centre = best_cells(probability) if centre is None else centre
    if centre.shape != (probability.shape[0], 2, *probability.shape[1:3]):
        raise ValueError(
            f"centre must be (B, 2, h, w) = {(probability.shape[0], 2, *probability.shape[1:3])}, "
            f"got {tuple(centre.shape)}"
        )
    inside = _window_mask(probability, centre, radius)
    return (probability * inside).flatten(-2).sum(-1)


def backward_best_cells(volume: Tensor) -> Tensor:
    """The target cell of each source cell's highest score: the volume read the other way.

    Shapes: ``(B, h, w, h', w') -> (B, 2, h', w')``, channel 0 = x, on the source grid.

    Convention:
        For source cell ``j``, the best over target cells of ``volume[b, :, :, j_y, j_x]``;
        ties go to the first target cell in row-major order.
    """
    volume = check_volume(volume)
    target_width = volume.shape[2]
    index = volume.flatten(1, 2).argmax(1)  # (B, h', w'), row-major target cell
    return torch.stack([index % target_width, index // target_width], dim=1).to(volume.dtype)


def cycle_error(volume: Tensor) -> Tensor:
    """Forward-backward consistency error of each target cell, in target cells.

    Shapes: ``(B, h, w, h', w') -> (B, h, w)``, in target cells.

    Convention:
        Target cell ``i`` -> its best source cell ``j`` (:func:`best_cells`) -> ``j``'s best
        target cell ``i'`` (:func:`backward_best_cells`); returns the Euclidean ``|i' - i|``.
        Zero exactly for mutual nearest neighbours; lower is surer.
    """
    volume = check_volume(volume)
    forward = best_cells(volume).long()  # (B, 2, h, w) source cells
    backward = backward_best_cells(volume)  # (B, 2, h', w') target cells
    source_width = volume.shape[-1]
    index = (forward[:, 1] * source_width + forward[:, 0]).flatten(1)  # (B, h*w)
    back = backward.flatten(2).gather(2, index[:, None].expand(-1, 2, -1))  # (B, 2, h*w)
    back = back.view(volume.shape[0], 2, *volume.shape[1:3])
    start = cell_grid(volume.shape[1], volume.shape[2], like=volume)[None]
    return (back - start).norm(dim=1)


def flow_cycle_error(forward: Tensor, backward: Tensor) -> Tensor:
    """Forward-backward consistency error of a dense flow, in pixels.

    Shapes: forward ``(B, 2, H, W)``, backward ``(B, 2, H', W')`` -> ``(B, H, W)``, pixels.

    Convention:
        ``forward`` is the flow on the target grid (target pixel ``p`` -> source pixel
        ``p + forward(p)``), ``backward`` the flow on the source grid (source -> target). The
        error at ``p`` is ``|forward(p) + backward(p + forward(p))|`` (``backward`` read
        bilinearly, :func:`gocor_lite.core.warp.warp`): zero where going there and back returns to
        ``p``. NaN where ``p + forward(p)`` leaves the source (nothing to come back from).
    """
    forward, backward = check_flow(forward), check_flow(backward)
    if forward.shape[0] != backward.shape[0]:
        raise ValueError(
            f"forward {tuple(forward.shape)} and backward {tuple(backward.shape)} flows "
            "differ in batch size"
        )
    returned = warp(backward, forward)  # backward read at p + forward(p): (B, 2, H, W)
    height, width = backward.shape[2:]
    grid = cell_grid(forward.shape[2], forward.shape[3], like=forward)[None]
    landing = grid + forward
    inside = (landing[:, 0] >= 0) & (landing[:, 0] <= width - 1)
    inside &= (landing[:, 1] >= 0) & (landing[:, 1] <= height - 1)
    error = (forward + returned).norm(dim=1)
    return torch.where(inside, error, torch.full_like(error, float("nan")))
