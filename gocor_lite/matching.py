# SPDX-License-Identifier: MIT
"""From volumes to matches, flows and pictures: the helpers every consumer of a volume needs.

Convention:
    Matches are source *cell* coordinates ``(B, 2, h, w)`` on the target grid (channel 0 = x,
    1 = y). Flow is in *pixels*, ``(B, 2, H, W)`` on the target image, such that target pixel
    ``p`` corresponds to source pixel ``p + flow(p)`` (GLU-Net's convention). Cells and pixels
    are related by :mod:`gocor_lite.grid`.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gocor_lite._checks import check_feature_pair
from gocor_lite.grid import cell_grid, cell_to_pixel

Normalization = Literal["none", "l2", "centered-l2"]
NORMALIZATIONS: tuple[str, ...] = ("none", "l2", "centered-l2")


def _check_global(volume: Tensor) -> Tensor:
    if not isinstance(volume, Tensor) or volume.dim() != 5:
        shape = tuple(volume.shape) if isinstance(volume, Tensor) else type(volume)
        raise ValueError(f"expected a global volume (B, h, w, h', w'), got {shape}")
    return volume


def _check_local(volume: Tensor) -> Tensor:
    if (
        not isinstance(volume, Tensor)
        or volume.dim() != 5
        or volume.shape[-1] != volume.shape[-2]
        or volume.shape[-1] % 2 == 0
    ):
        shape = tuple(volume.shape) if isinstance(volume, Tensor) else type(volume)
        raise ValueError(f"expected a local volume (B, h, w, 2R+1, 2R+1), got {shape}")
    return volume


def best_match(volume: Tensor) -> Tensor:
    """Source cell of the highest score for each target cell.

    Shapes: ``(B, h, w, h', w') -> (B, 2, h, w)`` (x, y), integer-valued, volume's dtype.
    """
    volume = _check_global(volume)
    source_width = volume.shape[-1]
    index = volume.flatten(-2).argmax(-1)  # (B, h, w)
    match = torch.stack([index % source_width, index // source_width], dim=1)
    return match.to(volume.dtype)


def soft_argmax(volume: Tensor, temperature: float = 0.02) -> Tensor:
    """Expected source cell under ``softmax(volume / temperature)`` over the source cells.

    Shapes: ``(B, h, w, h', w') -> (B, 2, h, w)`` (x, y), fractional. A small temperature
    approaches :func:`best_match`; a large one averages over the whole source image.
    """
    volume = _check_global(volume)
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
    volume = _check_local(volume)
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
    interpolated bilinearly (``align_corners=False`` matches the cell-centre convention).
    """
    source_stride = target_stride if source_stride is None else source_stride
    height, width = matches.shape[2:]
    target_pixels = cell_to_pixel(cell_grid(height, width, like=matches), target_stride)
    source_pixels = cell_to_pixel(matches, source_stride)
    flow = source_pixels - target_pixels  # (B, 2, h, w), pixels at the target cell centres
    return F.interpolate(flow, size=image_size, mode="bilinear", align_corners=False)


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
    volume = _check_local(volume)
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


def normalize_features(
    target: Tensor, source: Tensor, mode: str = "l2", eps: float = 1e-8
) -> tuple[Tensor, Tensor]:
    """Normalise a pair of feature maps before correlating them.

    * ``"none"``: unchanged;
    * ``"l2"``: each cell's vector scaled to unit length (a zero vector stays zero);
    * ``"centered-l2"``: first subtract the mean vector over the cells of *both* maps, then
      ``"l2"``. Features with all-positive entries (DAISY, ReLU outputs) correlate strongly
      everywhere; centring removes that common part, which GOCor needs to be useful.
    """
    target, source = check_feature_pair(target, source)
    if mode not in NORMALIZATIONS:
        raise ValueError(f"mode must be one of {NORMALIZATIONS}, got {mode!r}")
    if mode == "none":
        return target, source
    if mode == "centered-l2":
        cells = torch.cat([target.flatten(2), source.flatten(2)], dim=2)  # (B, C, hw + h'w')
        mean = cells.mean(dim=2)[:, :, None, None]
        target, source = target - mean, source - mean
    return (
        target / target.norm(dim=1, keepdim=True).clamp(min=eps),
        source / source.norm(dim=1, keepdim=True).clamp(min=eps),
    )
