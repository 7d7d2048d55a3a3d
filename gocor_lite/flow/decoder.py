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
