# SPDX-License-Identifier: MIT
"""Where a level's feature cells sit on the original images, and bilinear look-ups between
cells and pixels: everything the pipeline needs to move a flow between levels.

Convention:
    All flows here are in pixels of the **original** target image, ``(B, 2, H, W)``, channel
    0 = x: target pixel ``p`` matches source pixel ``p + flow(p)``. A level reads resized copies
    of the images; its :class:`Frame` says, for one image, the size of the feature grid and the
    stride, per axis, in original pixels: cell ``(i, j)`` is centred on the original pixel
    ``((j + 0.5) * stride_x - 0.5, (i + 0.5) * stride_y - 0.5)`` (:mod:`gocor_lite.grid`). Since
    each image has its own frame, target and source may differ in size and aspect.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gocor_lite.grid import cell_grid, cell_to_pixel, pixel_to_cell

__all__ = ["Frame", "dense_flow", "flow_at", "sample"]


@dataclass(frozen=True)
class Frame:
    """One image's feature grid at one level, placed on the original image."""

    grid: tuple[int, int]  # (h, w) feature cells
    stride: tuple[float, float]  # (x, y) original pixels per cell

    @staticmethod
    def of(image_size: tuple[int, int], level_size: tuple[int, int], stride: int) -> Frame:
        """The frame of an image of ``image_size = (H, W)``, resized to ``level_size`` and
        described by an extractor of ``stride`` (grid ``level_size // stride``)."""
        (height, width), (level_height, level_width) = image_size, level_size
        grid = (level_height // stride, level_width // stride)
        return Frame(grid, (width / level_width * stride, height / level_height * stride))

    def centres(self, like: Tensor) -> Tensor:
        """Original pixel coordinates of the cell centres: ``(1, 2, h, w)``."""
        return self.to_pixels(cell_grid(*self.grid, like=like)[None])

    def to_pixels(self, cells: Tensor) -> Tensor:
        """Fractional cell coordinates ``(B, 2, ...)`` -> original pixel coordinates."""
        stride_x, stride_y = self.stride
        x, y = cells.unbind(1)
        return torch.stack([cell_to_pixel(x, stride_x), cell_to_pixel(y, stride_y)], dim=1)

    def to_cells(self, pixels: Tensor) -> Tensor:
        """Original pixel coordinates ``(B, 2, ...)`` -> fractional cell coordinates."""
        stride_x, stride_y = self.stride
        x, y = pixels.unbind(1)
        return torch.stack([pixel_to_cell(x, stride_x), pixel_to_cell(y, stride_y)], dim=1)


def sample(field: Tensor, points: Tensor, padding: str = "zeros") -> Tensor:
    """Bilinear look-up of ``field`` at fractional grid coordinates.

    Shapes: field ``(B, C, h, w)``, points ``(B, 2, ...)`` (x, y; cell ``j`` of the field is at
    ``x = j``) -> ``(B, C, ...)``. ``padding="zeros"`` reads zero outside the field (half a cell
    beyond the outer centres), ``"border"`` the nearest edge value (constant extrapolation).
    """
    height, width = field.shape[2:]
    scale = points.new_tensor([2.0 / width, 2.0 / height]).view(1, 2, *[1] * (points.dim() - 2))
    normalised = (2 * points + 1) * scale / 2 - 1  # align_corners=False: cell j at (2j+1)/w - 1
    grid = normalised.movedim(1, -1)  # (B, ..., 2)
    batch = points.shape[0]
    flat = grid.reshape(batch, 1, -1, 2).to(field.dtype)
    out = F.grid_sample(field, flat, mode="bilinear", padding_mode=padding, align_corners=False)
    return out.view(batch, field.shape[1], *points.shape[2:])


def dense_flow(cell_flow: Tensor, frame: Frame, image_size: tuple[int, int]) -> Tensor:
    """The flow at every original target pixel from the flow at a level's target cell centres.

    Shapes: ``(B, 2, h, w) -> (B, 2, H, W)``. Bilinear between cell centres (exact for any
    image size, also when ``H`` is not a multiple of the stride), constant beyond the outer ones.
    """
    height, width = image_size
    pixels = cell_grid(height, width, like=cell_flow)[None]  # (1, 2, H, W), x then y
    cells = frame.to_cells(pixels).expand(cell_flow.shape[0], -1, -1, -1)
    return sample(cell_flow, cells, padding="border")


def flow_at(flow: Tensor, pixels: Tensor) -> Tensor:
    """A dense flow ``(B, 2, H, W)`` read at original target pixels ``(B, 2, ...)``, constant
    beyond the image border."""
    return sample(flow, pixels.expand(flow.shape[0], *pixels.shape[1:]), padding="border")
