# SPDX-License-Identifier: MIT
"""Notebook 9's exercises: backward warping, and the flow convention read backwards.

The warp is graded against :func:`gocor_lite.core.warp.warp` (bilinear, zero where
``p + flow(p)`` leaves the source, pixel centres at integers with ``align_corners=False``) on
instances where the usual slips change the answer: a flow that leaves the image (border
padding repeats the edge's colours), fractional flows (nearest instead of bilinear), a
non-square image (x and y swapped, or a normalisation off by half a pixel), a batch of two,
and a target grid smaller than the source (normalising by the target's size).

The inverse flow is graded on flows that are not constant (so that ``-flow`` on the target's
own grid is wrong), with matches that leave the source, unknown (NaN) flow, source pixels no
target pixel reaches, and grids of different sizes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gocor_lite.core.warp import warp
from gocor_lite.exercises.grading import Exercise, Instance


def _image(seed: int, batch: int, height: int, width: int) -> Tensor:
    """Colours in [0.2, 1]: never zero, so reading zero outside differs from any colour."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand(batch, 3, height, width, generator=generator, dtype=torch.float64)
    return 0.2 + 0.8 * values


def _smooth_flow(seed: int, batch: int, height: int, width: int, reach: float) -> Tensor:
    """A fractional flow that varies over the grid, up to ``reach`` pixels."""
    generator = torch.Generator().manual_seed(seed)
    flow = torch.rand(batch, 2, height, width, generator=generator, dtype=torch.float64) - 0.5
    return 2 * reach * flow


def _warp_instances() -> list[Instance]:
    leaving = _smooth_flow(12, 1, 5, 7, 0.4)
    leaving[:, 0, :, :3] -= 2.6  # the left columns read left of the image
    leaving[:, 1, 3:] += 1.7  # the bottom rows read below it
    return [
        Instance(
            "a 5x7 image (not square) and a fractional flow inside it",
            (_image(1, 1, 5, 7), _smooth_flow(11, 1, 5, 7, 0.9)),
        ),
        Instance(
            "a flow that leaves the 5x7 image (zero outside the source)",
            (_image(2, 1, 5, 7), leaving),
        ),
        Instance(
            "a batch of two 4x6 images, each with its own flow",
            (_image(3, 2, 4, 6), _smooth_flow(13, 2, 4, 6, 1.5)),
        ),
        Instance(
            "a 3x4 target grid reading a 6x9 source (normalise by the source's size)",
            (_image(4, 1, 6, 9), _smooth_flow(14, 1, 3, 4, 1.0) + 2.0),
        ),
    ]


def inverse_flow(flow: Tensor, source_size: tuple[int, int]) -> Tensor:
    """The flow from the source to the target, on the source's grid, of a flow that moves
    whole pixels one-to-one: target pixel ``p`` matches source pixel ``q = p + flow(p)``, so
    source pixel ``q`` matches target pixel ``q - flow(p)``: its flow is ``-flow(p)``. NaN where
    no target pixel lands (and ``p`` is skipped where its flow is NaN or ``q`` leaves the
    source).

    Shapes: flow ``(2, H, W)`` (x then y, whole pixels), ``source_size = (H', W')`` ->
    ``(2, H', W')``."""
    source_height, source_width = source_size
    inverse = flow.new_full((2, source_height, source_width), math.nan)
    height, width = flow.shape[1:]
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    known = torch.isfinite(flow).all(dim=0)
    match_x = (xs + flow[0].nan_to_num(0.0)).round().long()
    match_y = (ys + flow[1].nan_to_num(0.0)).round().long()
    inside = (
        known
        & (match_x >= 0)
        & (match_x < source_width)
        & (match_y >= 0)
        & (match_y < source_height)
    )
    inverse[:, match_y[inside], match_x[inside]] = -flow[:, inside]
    return inverse


def _row_flow(height: int, width: int) -> Tensor:
    """Rows swapped in pairs (v = +1 on even rows, -1 on odd ones), each shifted sideways by
    its own amount (u = row % 3 - 1): one-to-one, and not constant in either component."""
    rows = torch.arange(height, dtype=torch.float64).view(height, 1).expand(height, width)
    u = torch.remainder(rows, 3) - 1
    v = torch.where(torch.remainder(rows, 2) == 0, 1.0, -1.0).to(torch.float64)
    if height % 2:  # the last row of an odd grid stays in place vertically
        v[-1] = 0.0
    return torch.stack([u, v])


def _inverse_instances() -> list[Instance]:
    leaving = _row_flow(4, 6)  # row 1 moves up to row 0; only row 1 reaches row 0
    leaving[0, 1] = torch.tensor([-3.0, -1.0, 4.0, 0.0, -5.0, 2.0], dtype=torch.float64)
    leaving[1, 0, 2] = -1.0  # row 0, x = 2 looks above the source (row -1)
    unknown = _row_flow(4, 5)
    unknown[:, 2, 1:3] = math.nan
    unknown[:, 0, 4] = math.nan
    return [
        Instance(
            "a 4x6 flow that is not constant (rows swapped and shifted)", (_row_flow(4, 6), (4, 6))
        ),
        Instance(
            "matches that leave the source, left, right and above (skipped, no wrap-around)",
            (leaving, (4, 6)),
        ),
        Instance(
            "unknown flow (NaN) at some target pixels, and source pixels no target pixel "
            "reaches (NaN there)",
            (unknown, (4, 5)),
        ),
        Instance(
            "a 3x5 target grid and a 4x7 source grid",
            (_row_flow(3, 5) + torch.tensor([1.0, 0.0], dtype=torch.float64).view(2, 1, 1), (4, 7)),
        ),
    ]


EXERCISES = {
    "the backward warp": Exercise("the backward warp", warp, _warp_instances, atol=1e-9, rtol=1e-9),
    "the source-to-target flow": Exercise(
        "the source-to-target flow", inverse_flow, _inverse_instances
    ),
}
