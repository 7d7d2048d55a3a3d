# SPDX-License-Identifier: MIT
"""From one level's volume to a match per target cell: the training-free estimators (argmax
with a sub-cell fit, windowed soft-argmax) and the small learned decoder.

Convention:
    Global volumes ``(B, h, w, h', w')`` and local volumes ``(B, h, w, 2R+1, 2R+1)`` share a
    layout: the last two axes are a grid (source cells, or the window ``[R+dy, R+dx]``). The
    estimators return fractional ``(x, y)`` positions on that grid, ``(B, 2, h, w)``: a source
    cell for a global volume, ``(R+dx, R+dy)`` for a local one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gocor_lite.correlation import global_to_flat


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


class LevelDecoder(nn.Module):
    """A few convolutions that correct one level's training-free estimate, as GLU-Net's
    decoders read the correlation volume and the upsampled flow.

    Input: the volume (negative scores set to zero, each target cell's scores scaled to unit
    length, one channel per source cell or window position), the training-free position and,
    below level 0, the upsampled flow of the level above. Output: a correction of the position,
    in cells. The last convolution starts at zero, so an untrained decoder returns the
    training-free estimate exactly.

    Shapes: volume ``(B, h, w, a, b)``, position ``(B, 2, h, w)``, prior ``(B, 2, h, w)`` ->
    ``(B, 2, h, w)``.
    """

    def __init__(self, volume_channels: int, hidden: int = 32):
        super().__init__()
        self.volume_channels = volume_channels
        self.layers = nn.Sequential(
            nn.Conv2d(volume_channels + 4, 2 * hidden, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(2 * hidden, hidden, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(hidden, 2, 3, padding=1),
        )
        last = self.layers[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, volume: Tensor, position: Tensor, prior: Tensor) -> Tensor:
        rows, cols = volume.shape[-2:]
        if rows * cols != self.volume_channels:
            raise ValueError(
                f"this decoder reads volumes of {self.volume_channels} positions per cell, "
                f"got {tuple(volume.shape)}; the working size or search radius changed"
            )
        scores = F.normalize(global_to_flat(volume).clamp(min=0), dim=1)  # (B, a*b, h, w)
        scale = position.new_tensor([cols, rows]).view(1, 2, 1, 1)
        inputs = torch.cat([scores, position / scale - 0.5, prior], dim=1)
        dtype = next(self.parameters()).dtype
        return self.layers(inputs.to(dtype)).to(position.dtype)
