# SPDX-License-Identifier: MIT
"""Flows on grids: warp a source image (or feature map) onto the target grid, rescale a flow
to another resolution, place a level's feature cells on the original images (:class:`Frame`),
and look values up bilinearly between cells and pixels (:func:`sample`, :func:`dense_flow`,
:func:`flow_at`). Everything that moves a flow between resolutions lives here.

Convention:
    Flow is ``(B, 2, H, W)`` on the target grid, channel 0 = x, channel 1 = y, in pixels of
    that grid: target pixel ``p`` corresponds to source pixel ``p + flow(p)`` (GLU-Net's
    convention). Pixel centres are at integer coordinates; a grid of size ``(H, W)`` covers
    ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` (``align_corners=False``, as :mod:`gocor_lite.core.grid`).
    A :class:`Frame` says, for one image at one level, the size of the feature grid and the
    stride per axis in original pixels: cell ``(i, j)`` is centred on the original pixel
    ``((j + 0.5) * stride_x - 0.5, (i + 0.5) * stride_y - 0.5)``. Since each image has its own
    frame, target and source may differ in size and aspect.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gocor_lite._checks import check_flow
from gocor_lite.core.grid import cell_grid, cell_to_pixel, pixel_to_cell


def warp(source: Tensor, flow: Tensor) -> Tensor:
    """Resample ``source`` at ``p + flow(p)`` for every target pixel ``p`` (backward warping).

    Shapes: source ``(B, C, H', W')``, flow ``(B, 2, H, W)`` -> ``(B, C, H, W)``. Bilinear;
    zero where ``p + flow(p)`` falls outside the source. Works for images and feature maps alike
    (give the flow in units of the source's own grid).

    >>> image = torch.arange(6.0).view(1, 1, 2, 3)
    >>> shift = torch.zeros(1, 2, 2, 3); shift[:, 0] = 1.0  # every pixel looks one to the right
    >>> warp(image, shift)[0, 0]
    tensor([[1., 2., 0.],
            [4., 5., 0.]])
    """
    flow = check_flow(flow)
    if source.dim() != 4 or source.shape[0] != flow.shape[0]:
        raise ValueError(
            f"source must be (B, C, H', W') with the flow's batch size, got {tuple(source.shape)} "
            f"and flow {tuple(flow.shape)}"
        )
    height, width = flow.shape[2:]
    source_height, source_width = source.shape[2:]
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device)
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device)
    x = xs.view(1, 1, width) + flow[:, 0]  # (B, H, W), source pixels
    y = ys.view(1, height, 1) + flow[:, 1]
    # Pixel -> [-1, 1] with align_corners=False: pixel -0.5 is -1 and pixel W'-0.5 is +1.
    grid = torch.stack([(2 * x + 1) / source_width - 1, (2 * y + 1) / source_height - 1], dim=-1)
    return F.grid_sample(
        source, grid.to(source.dtype), mode="bilinear", padding_mode="zeros", align_corners=False
    )


def resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """The same flow on a grid of another ``size = (H2, W2)``: resampled bilinearly, and its x
    and y components scaled by ``W2 / W`` and ``H2 / H`` so that it still points at the same
    place of the (equally rescaled) source image.

    Shapes: ``(B, 2, H, W) -> (B, 2, H2, W2)``. Going from image pixels to feature cells of
    stride ``s`` is ``resize_flow(flow, (H // s, W // s))``. No antialiasing: each new pixel
    reads the flow at its own centre (exact for an affine flow), as the cell-centre convention
    of :mod:`gocor_lite.core.grid` wants.

    >>> flow = torch.ones(1, 2, 4, 6)
    >>> resize_flow(flow, (8, 3))[0, :, 0, 0].tolist()
    [0.5, 2.0]
    """
    flow = check_flow(flow)
    height, width = flow.shape[2:]
    new_height, new_width = size
    scale = flow.new_tensor([new_width / width, new_height / height]).view(1, 2, 1, 1)
    resized = F.interpolate(
        flow, size=(new_height, new_width), mode="bilinear", align_corners=False
    )
    return resized * scale


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
