# SPDX-License-Identifier: MIT
"""What a correlation volume should say, from a known flow: the true match of every target
cell, the local-window set-up that follows a coarse flow, the matching loss, and the matches
a volume predicts. Shared by training (:mod:`gocor_lite.training`) and evaluation
(:mod:`gocor_lite.cli.evaluate`), so both read a volume the same way.

Convention:
    Matches are **source pixels** ``(B, 2, h, w)`` (x then y) of the target cell centres
    (:mod:`gocor_lite.core.grid`): cell ``(i, j)`` of stride ``s`` is centred on pixel
    ``((j + 0.5) s - 0.5, (i + 0.5) s - 0.5)``. A volume's entries each stand for one source
    position (a *candidate*): a source cell centre for a global volume; for a local volume
    after a coarse flow, window entry ``[R+dy, R+dx]`` of target cell ``i`` stands for the
    coarse-flow match of the neighbouring target cell ``i + (dx, dy)``, as in GLU-Net.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gocor_lite.core.correlation import local_correlation
from gocor_lite.core.grid import cell_grid, cell_to_pixel, pixel_to_cell
from gocor_lite.core.warp import flow_at, sample
from gocor_lite.reading.matching import argmax_position


def cell_centres(grid: tuple[int, int], stride: int, *, like: Tensor) -> Tensor:
    """Pixel coordinates of the centres of a ``(h, w)`` grid of ``stride``: ``(1, 2, h, w)``."""
    return cell_to_pixel(cell_grid(*grid, like=like), stride)[None]


def true_matches(
    flow: Tensor, valid: Tensor, grid: tuple[int, int], stride: int
) -> tuple[Tensor, Tensor]:
    """The true source pixel of every target cell centre, and whether it is known.

    Shapes: flow ``(B, 2, H, W)``, valid ``(B, 1, H, W)`` -> matches ``(B, 2, h, w)``, known
    ``(B, h, w)`` bool (the flow is read bilinearly; a centre counts as known where all four
    pixels around it are valid).
    """
    centres = cell_centres(grid, stride, like=flow).expand(flow.shape[0], -1, -1, -1)
    matches = centres + flow_at(flow, centres)
    known = sample(valid.to(flow.dtype), centres, padding="zeros")[:, 0] > 1 - 1e-6
    return matches, known


@dataclass(frozen=True)
class LocalProblem:
    """Local correlation after a coarse flow, as a flow network's finer level sees it.

    Shapes: source ``(B, C, h, w)`` the source features warped onto the target cells by the
    coarse flow; candidates ``(B, h, w, (2R+1)^2, 2)`` the source pixel each window entry
    stands for (dy-major).
    """

    source: Tensor
    candidates: Tensor
    coarse_flow: Tensor  # (B, 2, H, W) pixels
    stride: int
    radius: int

    def correlation(self, target: Tensor) -> Tensor:
        """The local volume of (normalised) target features with the warped source: the sum
        over channels, i.e. cosine scores for unit vectors. ``(B, h, w, 2R+1, 2R+1)``."""
        return local_correlation(target, self.source, self.radius, reduction="sum")

    def matches(self, volume: Tensor) -> Tensor:
        """Source pixels ``(B, 2, h, w)`` of each window's best entry (argmax refined below one
        cell, then read through the coarse flow as the flow pipeline does)."""
        position = argmax_position(volume)  # (B, 2, h, w): (R+dx, R+dy), fractional
        grid = (volume.shape[1], volume.shape[2])
        centres = cell_centres(grid, self.stride, like=position)
        neighbours = centres + (position - self.radius) * self.stride
        return neighbours + flow_at(self.coarse_flow, neighbours)


def local_problem(source: Tensor, coarse_flow: Tensor, stride: int, radius: int) -> LocalProblem:
    """Warp source features ``(B, C, h', w')`` onto a ``(h, w)`` target grid by a dense coarse
    flow ``(B, 2, H, W)`` (zero outside the source) and list the window's candidates; the
    target grid is ``(H // stride, W // stride)``."""
    grid = (coarse_flow.shape[2] // stride, coarse_flow.shape[3] // stride)
    centres = cell_centres(grid, stride, like=coarse_flow)  # (1, 2, h, w)
    looks = centres + flow_at(coarse_flow, centres)  # (B, 2, h, w) source pixels
    warped = sample(source, pixel_to_cell(looks, stride), padding="zeros")  # (B, C, h, w)
    steps = torch.arange(-radius, radius + 1, dtype=coarse_flow.dtype, device=coarse_flow.device)
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")
    offsets = torch.stack([dx.flatten(), dy.flatten()]) * stride  # (2, S^2), dy-major
    neighbours = centres[..., None] + offsets[None, :, None, None, :]  # (1, 2, h, w, S^2)
    neighbours = neighbours.expand(coarse_flow.shape[0], -1, -1, -1, -1)
    candidates = neighbours + flow_at(coarse_flow, neighbours)  # (B, 2, h, w, S^2)
    return LocalProblem(warped, candidates.permute(0, 2, 3, 4, 1), coarse_flow, stride, radius)


def global_candidates(grid: tuple[int, int], stride: int, *, like: Tensor) -> Tensor:
    """Source pixels of a global volume's entries: ``(1, 1, 1, h'*w', 2)``."""
    return cell_centres(grid, stride, like=like).flatten(2).permute(0, 2, 1)[:, None, None]


def global_matches(volume: Tensor, stride: int) -> Tensor:
    """Source pixels ``(B, 2, h, w)`` of each target cell's best entry of a global volume
    ``(B, h, w, h', w')`` (argmax refined below one cell)."""
    return cell_to_pixel(argmax_position(volume), stride)


def match_loss(
    scores: Tensor,
    candidates: Tensor,
    matches: Tensor,
    known: Tensor,
    temperature: float | Tensor,
    sigma: float,
) -> Tensor:
    """Cross-entropy between ``softmax(scores / temperature)`` over a volume's entries and a
    target distribution centred on the true match: ``exp(-d^2 / (2 sigma^2))``, normalised,
    with ``d`` the distance in pixels from each candidate to the true match (a soft one-hot
    that does not round the match to a cell). Averaged over the known target cells whose
    match lies within ``2 sigma`` of some candidate (the others have nothing to find).

    Shapes: scores ``(B, h, w, N)``; candidates broadcastable to ``(B, h, w, N, 2)``;
    matches ``(B, 2, h, w)``; known ``(B, h, w)`` -> a scalar.
    """
    truth = matches.permute(0, 2, 3, 1)[..., None, :]  # (B, h, w, 1, 2)
    squared = (candidates - truth).square().sum(-1)  # (B, h, w, N)
    target = torch.softmax(-squared / (2 * sigma**2), dim=-1)
    reachable = known & (squared.min(-1).values <= (2 * sigma) ** 2)
    log_probability = torch.log_softmax(scores / temperature, dim=-1)
    entropy = -(target * log_probability).sum(-1)  # (B, h, w)
    if not bool(reachable.any()):
        return entropy.sum() * 0.0
    return entropy[reachable].mean()


def coarse_flow(flow: Tensor, stride: int, max_offset: float, generator: torch.Generator) -> Tensor:
    """A coarse flow for local correlation, as a coarser level would leave it: the true flow
    ``(B, 2, H, W)`` shifted, per pair, by a random offset of up to ``max_offset`` cells in x
    and in y (drawn from ``generator``, in float64). Training and evaluation both use it."""
    draws = torch.rand(flow.shape[0], 2, 1, 1, generator=generator, dtype=torch.float64)
    return flow + ((2 * draws - 1) * max_offset * stride).to(flow)
