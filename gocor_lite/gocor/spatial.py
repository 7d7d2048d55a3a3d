# SPDX-License-Identifier: MIT
"""GOCor's learned functions of distance: the label ``y``, the residual weight ``v`` and the
negative slope ``m`` of the activation, each linear in a set of triangular distance bins.

Distances are measured in feature cells between two *target* positions: the filter of target
cell ``i`` should score ``y(|i - j|)`` on target cell ``j``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn


def distance_bins(distance: Tensor, num_bins: int, bin_width: float) -> Tensor:
    """Soft-assign distances to ``num_bins`` triangular bins centred at ``k * bin_width``.

    Shapes: distance ``(...)`` -> ``(..., num_bins)``.

    ``phi_k(rho) = max(0, 1 - |rho / bin_width - k|)`` for ``k < num_bins - 1``; the last bin
    rises like the others and then stays at 1 for every larger distance.
    """
    position = distance.unsqueeze(-1) / bin_width
    centres = torch.arange(num_bins, dtype=distance.dtype, device=distance.device)
    bins = (1 - (position - centres).abs()).clamp(min=0)
    last = (1 + position[..., 0] - (num_bins - 1)).clamp(0, 1)
    return torch.cat([bins[..., :-1], last.unsqueeze(-1)], dim=-1)


def offset_distances(height: int, width: int, *, like: Tensor) -> Tensor:
    """Euclidean length of every cell offset ``(dy, dx)`` with ``|dy| < height``, ``|dx| < width``.

    Shapes: -> ``(2*height - 1, 2*width - 1)``, entry ``[height-1+dy, width-1+dx]``.
    """
    dy = torch.arange(1 - height, height, dtype=like.dtype, device=like.device)
    dx = torch.arange(1 - width, width, dtype=like.dtype, device=like.device)
    return torch.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)


def pairwise_table(offset_values: Tensor, height: int, width: int) -> Tensor:
    """Spread a function of the offset over all pairs of cells of an ``height x width`` grid.

    Shapes: offset_values ``(2h-1, 2w-1)`` (as from :func:`offset_distances`) -> ``(h*w, h*w)``
    with ``out[i, j] = offset_values[h-1 + y_j - y_i, w-1 + x_j - x_i]`` for cells ``i``, ``j``
    in row-major order.
    """
    # unfold: windows[y_i', x_i', a, b] = values[y_i' + a, x_i' + b]; with y_i' = h-1-y_i
    # this is values[h-1 - y_i + a, ...], i.e. the row for cell i after flipping the first axes.
    windows = offset_values.unfold(0, height, 1).unfold(1, width, 1)  # (h, w, h, w)
    return windows.flip(0, 1).reshape(height * width, height * width)


@dataclass(frozen=True)
class DistanceFunctionSamples:
    """The three learned functions sampled over distance, for plotting.

    Shapes: every field ``(S,)`` for ``S`` sampled distances (in feature cells).
    """

    distance: Tensor
    label: Tensor  # y: the score the filter should reach at that distance
    residual_weight: Tensor  # v: how much the residual at that distance counts
    negative_slope: Tensor  # m: slope of the activation for negative scores, in (0, 1)


class DistanceFunctions(nn.Module):
    """The learned ``y``, ``v`` and ``m`` of GOCor, with the paper's initial values.

    * ``label_coeffs`` (``a_k``): ``g_k - min g`` with ``g_k = exp(-d_k^2 / (2 sigma^2))``;
    * ``weight_coeffs`` (``b_k``): ones;
    * ``slope_coeffs`` (``c_k``): ``4 tanh(2 - d_k)``, passed through a sigmoid.
    """

    def __init__(self, num_bins: int = 10, bin_width: float = 0.5, label_sigma: float = 1.0):
        super().__init__()
        if num_bins < 2:
            raise ValueError(f"num_bins must be >= 2, got {num_bins}")
        if bin_width <= 0:
            raise ValueError(f"bin_width must be > 0, got {bin_width}")
        self.num_bins = num_bins
        self.bin_width = bin_width
        centres = torch.arange(num_bins, dtype=torch.float32) * bin_width
        if label_sigma > 0:
            gauss = torch.exp(-(centres**2) / (2 * label_sigma**2))
            label = gauss - gauss.min()
        else:
            label = torch.zeros(num_bins)
            label[0] = 1.0
        self.label_coeffs = nn.Parameter(label)
        self.weight_coeffs = nn.Parameter(torch.ones(num_bins))
        self.slope_coeffs = nn.Parameter(4 * torch.tanh(2 - centres))

    @property
    def reach(self) -> float:
        """Distance beyond which all three functions are constant (the last bin's centre)."""
        return (self.num_bins - 1) * self.bin_width

    def forward(self, distance: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Evaluate ``(y, v, m)`` at the given distances; each has the shape of ``distance``."""
        bins = distance_bins(distance, self.num_bins, self.bin_width)
        coeffs = torch.stack([self.label_coeffs, self.weight_coeffs, self.slope_coeffs], dim=-1)
        values = bins @ coeffs.to(bins.dtype)  # (..., 3)
        label, residual_weight, slope_logit = values.unbind(-1)
        return label, residual_weight, torch.sigmoid(slope_logit)

    def sample(self, max_distance: float | None = None, num: int = 200) -> DistanceFunctionSamples:
        """Sample the functions on ``[0, max_distance]`` (default: a little past their reach)."""
        if max_distance is None:
            max_distance = math.ceil(self.reach + 2 * self.bin_width)
        with torch.no_grad():
            distance = torch.linspace(
                0.0,
                max_distance,
                num,
                dtype=self.label_coeffs.dtype,
                device=self.label_coeffs.device,
            )
            label, weight, slope = self(distance)
        return DistanceFunctionSamples(distance, label, weight, slope)

    def extra_repr(self) -> str:
        return f"num_bins={self.num_bins}, bin_width={self.bin_width}"
