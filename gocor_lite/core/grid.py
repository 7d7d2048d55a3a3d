# SPDX-License-Identifier: MIT
"""Image pixels <-> feature cells, written once.

Convention:
    A feature map of ``stride`` s covers an image so that cell ``i`` (along one axis) is centred
    on pixel ``(i + 0.5) * s - 0.5`` (pixel centres at integers, as in bilinear resampling with
    ``align_corners=False``). Coordinates are ``(x, y)``: column first, as in the flow's
    channel order.
"""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import Tensor

Coordinate = TypeVar("Coordinate", float, Tensor)


def cell_to_pixel(cell: Coordinate, stride: float) -> Coordinate:
    """Pixel coordinate of a (possibly fractional) cell coordinate."""
    return (cell + 0.5) * stride - 0.5


def pixel_to_cell(pixel: Coordinate, stride: float) -> Coordinate:
    """Fractional cell coordinate of a pixel coordinate (inverse of :func:`cell_to_pixel`)."""
    return (pixel + 0.5) / stride - 0.5


def pixel_to_cell_index(
    x: float, y: float, stride: float, grid_size: tuple[int, int]
) -> tuple[int, int]:
    """The cell ``(column, row)`` that contains pixel ``(x, y)``, clamped to a ``(h, w)`` grid."""
    height, width = grid_size
    column = min(max(int((x + 0.5) // stride), 0), width - 1)
    row = min(max(int((y + 0.5) // stride), 0), height - 1)
    return column, row


def cell_grid(height: int, width: int, *, like: Tensor) -> Tensor:
    """Cell coordinates of a ``(h, w)`` grid: ``(2, h, w)``, channel 0 = x, channel 1 = y."""
    ys = torch.arange(height, dtype=like.dtype, device=like.device)
    xs = torch.arange(width, dtype=like.dtype, device=like.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y])
