# SPDX-License-Identifier: MIT
"""Sizes and units of GLU-Net: the working size, the number and sizes of the extra refinement
levels, and the conversion of any level's flow into pixels of the original images.

Convention:
    Both images of a pair are resized to one *virtual* size at each level: ``L x L`` (the L-Net
    copies, levels 4 and 3) or the working size ``H' x W'`` (every other level). A level's flow
    ``f`` is in pixels of that virtual size, on the target's cells. Resizing keeps pixel
    centres (``align_corners=False``): original pixel ``x`` of an image ``W`` wide sits at the
    virtual coordinate ``(x + 0.5) W_v / W - 0.5``. The target cell centred on virtual ``x_v``
    then matches the source's virtual ``x_v + f``, that is original source pixel
    ``(x_v + f + 0.5) W_s / W_v - 0.5``; its flow in original pixels (target pixel ``p`` matches
    source pixel ``p + flow(p)``) is ``f W_s / W_v + (x_t + 0.5)(W_s / W_t - 1)`` at original
    target pixel ``x_t``, per axis. When target and source have the same size this is
    ``f W_t / W_v``, the authors' scaling (their code applies that one always: reference §9
    pitfall 2).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gocor_lite.core.grid import cell_grid
from gocor_lite.core.warp import Frame

Size = tuple[int, int]  # (H, W)


def working_size(image_size: Size, minimum: int = 256, maximum: int | None = None) -> Size:
    """The working size ``(H', W')`` of a target of ``image_size`` (reference §2.1): each side
    ``minimum`` if below it, else floored to a multiple of 8. With ``maximum`` (this project's
    rule, :attr:`~gocor_lite.glunet.GLUNetConfig.max_working_side`), an image whose longer
    side exceeds it is first scaled down, aspect kept, so that its longer side is ``maximum``.

    >>> working_size((480, 640)), working_size((480, 640), maximum=512)
    ((480, 640), (384, 512))
    """
    height, width = image_size
    if maximum is not None and max(height, width) > maximum:
        scale = maximum / max(height, width)
        height, width = round(height * scale), round(width * scale)
    return (
        minimum if height < minimum else 8 * (height // 8),
        minimum if width < minimum else 8 * (width // 8),
    )


def extra_level_count(working: Size, refinement_width: int = 768) -> int:
    """Extra refinement levels for a working size: ``max(0, round(log2(W' / 768)))`` computed
    as the authors do (from the width alone, with Python's ``round``; reference §5 step 1)."""
    ratio = working[1] / 8 / 32
    return max(0, round(math.log(ratio / (refinement_width / 256)) / math.log(2)))


def extra_level_sizes(working: Size, count: int) -> list[Size]:
    """Grid of each extra level ``n = 0 .. count-1`` (coarsest first): ``(int(H' r), int(W' r))``
    with ``r = 1 / (8 * 2^(count - n))``."""
    height, width = working
    sizes = []
    for n in range(count):
        ratio = 1.0 / (8.0 * 2 ** (count - n))
        sizes.append((int(height * ratio), int(width * ratio)))
    return sizes


def extra_level_ratio(count: int, n: int) -> float:
    """``r`` of extra level ``n``: its cells per working pixel."""
    return 1.0 / (8.0 * 2 ** (count - n))


def level_frame(image_size: Size, grid: Size) -> Frame:
    """Where a level's ``grid`` of cells lies on the original image of ``image_size``: the
    grid evenly covers the image resized to the level's virtual size, hence the original."""
    height, width = image_size
    return Frame(grid, (width / grid[1], height / grid[0]))


def cell_flow_to_pixels(
    flow: Tensor, virtual_size: Size, target_size: Size, source_size: Size
) -> Tensor:
    """A level's flow at its target cells, from virtual pixels to original pixels (source
    pixels pointed at from original target pixels; see the module's convention).

    Shapes: ``(B, 2, h, w) -> (B, 2, h, w)``. Cell ``j`` of a grid of ``w`` cells covers the
    original target evenly: it is centred on original ``(j + 0.5) W_t / w - 0.5``.
    """
    _, _, height, width = flow.shape
    centres = cell_grid(height, width, like=flow)[None]  # (1, 2, h, w): x then y, cells
    stride = (target_size[1] / width, target_size[0] / height)
    target_pixels = torch.stack(
        [(centres[:, 0] + 0.5) * stride[0] - 0.5, (centres[:, 1] + 0.5) * stride[1] - 0.5], dim=1
    )
    return to_source_pixels(flow, target_pixels, virtual_size, target_size, source_size)


def dense_flow_to_pixels(
    flow: Tensor, virtual_size: Size, target_size: Size, source_size: Size
) -> Tensor:
    """A flow already resampled onto the original target pixels (``(B, 2, H_t, W_t)``, values
    in virtual pixels) -> source pixels pointed at from original target pixels."""
    height, width = flow.shape[2:]
    target_pixels = cell_grid(height, width, like=flow)[None]  # (1, 2, H_t, W_t)
    return to_source_pixels(flow, target_pixels, virtual_size, target_size, source_size)


def to_source_pixels(
    flow: Tensor, target_pixels: Tensor, virtual_size: Size, target_size: Size, source_size: Size
) -> Tensor:
    """``f W_s / W_v + (x_t + 0.5)(W_s / W_t - 1)`` per axis (module convention).

    Shapes: flow ``(B, 2, ...)`` in virtual pixels, target_pixels ``(1 or B, 2, ...)`` the
    original target pixel of each entry -> ``(B, 2, ...)``. The second term vanishes (and is
    not added) on an axis where target and source have the same size, so that the result is
    then exactly ``f * (W_t / W_v)``, the authors' scaling.
    """
    components = []
    for axis, dim in ((0, 1), (1, 0)):  # x uses widths (dim 1 of a size), y heights
        target_extent, source_extent = target_size[dim], source_size[dim]
        value = flow[:, axis] * (source_extent / virtual_size[dim])
        if target_extent != source_extent:
            value = value + (target_pixels[:, axis] + 0.5) * (source_extent / target_extent - 1)
        components.append(value)
    return torch.stack(components, dim=1)
