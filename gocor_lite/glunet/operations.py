# SPDX-License-Identifier: MIT
"""GLU-Net's parameter-free steps: the feature warp, the per-position L2 normalisation, the
mutual matching of the global volume, the mapping-to-flow conversion and the per-axis flow
scaling (reference §4.1, §4.2, §7.1, §9).

Convention:
    Flows are ``(B, 2, h, w)``, channel 0 = x (columns), channel 1 = y (rows), on the target's
    grid, pointing to the source: the target cell ``(x, y)`` matches the source position
    ``(x + u, y + v)``. Every warp takes its flow in cells of the warped map's own grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

L2_EPS = 1e-6  # inside the square root of L2n
MUTUAL_EPS = 1e-5  # of both max-normalisations of the mutual matching


def warp(features: Tensor, flow: Tensor) -> Tensor:
    """Sample ``features`` at ``(x + u, y + v)`` for every grid position ``(x, y)``.

    Shapes: features ``(B, C, h, w)``, flow ``(B, 2, h, w)`` (cells of ``features``) ->
    ``(B, C, h, w)``. Bilinear, zero outside the map. Positions are normalised as
    ``2 X / max(w - 1, 1) - 1`` and sampled with ``align_corners=True`` (reference §7.1 and
    pitfall 18), so a position ``X`` reads exactly cell ``X``.
    """
    height, width = features.shape[2:]
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device).view(1, height, 1)
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device).view(1, 1, width)
    x = xs + flow[:, 0]  # (B, h, w), cells
    y = ys + flow[:, 1]
    grid = torch.stack(
        [2.0 * x / max(width - 1, 1) - 1.0, 2.0 * y / max(height - 1, 1) - 1.0], dim=-1
    )  # (B, h, w, 2)
    return F.grid_sample(
        features, grid.to(features.dtype), mode="bilinear", padding_mode="zeros", align_corners=True
    )


def l2_normalize(x: Tensor) -> Tensor:
    """``x / sqrt(sum_c x^2 + 1e-6)`` at every position (channels = dim 1)."""
    return x / torch.sqrt((x * x).sum(dim=1, keepdim=True) + L2_EPS)


def mutual_matching(volume: Tensor) -> Tensor:
    """The global volume's cyclic-consistency step (reference §4.1 step 3, pitfall 6).

    Shapes: ``(B, N_source, h, w) -> (B, N_source, h, w)`` (source positions in channels).
    With ``M_t`` the best score of each target position (max over channels) and ``M_s`` the
    best score of each source position (max over the target grid):
    ``C * ((C / (M_s + 1e-5)) * (C / (M_t + 1e-5)))``.
    """
    best_per_target = volume.amax(dim=1, keepdim=True)  # (B, 1, h, w)
    best_per_source = volume.amax(dim=(2, 3), keepdim=True)  # (B, N, 1, 1)
    return volume * (
        (volume / (best_per_source + MUTUAL_EPS)) * (volume / (best_per_target + MUTUAL_EPS))
    )


def mapping_to_flow(mapping: Tensor) -> Tensor:
    """A mapping in normalised source coordinates (``-1`` = cell 0, ``+1`` = cell ``g - 1``,
    the align-corners convention) to a flow in cells of the ``g x g`` grid.

    Shapes: ``(B, 2, g, g') -> (B, 2, g, g')``: ``u = (m_x + 1) (g' - 1) / 2 - x``,
    ``v = (m_y + 1) (g - 1) / 2 - y``.
    """
    _, _, height, width = mapping.shape
    xs = torch.arange(width, dtype=mapping.dtype, device=mapping.device).view(1, width)
    ys = torch.arange(height, dtype=mapping.dtype, device=mapping.device).view(height, 1)
    u = (mapping[:, 0] + 1) * (width - 1) / 2 - xs
    v = (mapping[:, 1] + 1) * (height - 1) / 2 - ys
    return torch.stack([u, v], dim=1)


def soft_argmax_mapping(volume: Tensor, temperature: Tensor | float) -> Tensor:
    """The expected source position under ``softmax(volume / temperature)`` over source
    cells, as a mapping in :func:`mapping_to_flow`'s normalised coordinates (``-1`` = cell 0,
    ``+1`` = cell ``g - 1``).

    Shapes: ``(B, g * g', h, w)`` with source cells row-major in channels (``k = y g' + x``;
    here the source grid is square, ``g = g'``) -> ``(B, 2, h, w)``, x then y.
    """
    cells = volume.shape[1]
    side = math.isqrt(cells)
    if side * side != cells:
        raise ValueError(f"the volume's {cells} channels are not a square grid of source cells")
    probability = torch.softmax(volume / temperature, dim=1)  # (B, g*g, h, w)
    steps = torch.linspace(-1.0, 1.0, side, dtype=volume.dtype, device=volume.device)
    xs = steps.repeat(side)  # x of channel k = y * g + x
    ys = steps.repeat_interleave(side)
    mapping_x = torch.einsum("bkhw,k->bhw", probability, xs)
    mapping_y = torch.einsum("bkhw,k->bhw", probability, ys)
    return torch.stack([mapping_x, mapping_y], dim=1)


def scale_flow(flow: Tensor, scale_x: float, scale_y: float) -> Tensor:
    """``(u * scale_x, v * scale_y)``: a flow in other units, per axis. ``(B, 2, h, w)``."""
    return torch.stack([flow[:, 0] * scale_x, flow[:, 1] * scale_y], dim=1)


def bilinear(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resampling to ``size`` (``align_corners=False``), values unchanged."""
    return F.interpolate(flow, size=size, mode="bilinear", align_corners=False)


def area(features: Tensor, size: tuple[int, int]) -> Tensor:
    """'area' resampling (adaptive average pooling) to ``size``."""
    return F.interpolate(features, size=size, mode="area")
