# SPDX-License-Identifier: MIT
"""Filter initialisers: iteration 0 of GOCor, one filter per target cell.

Every initialiser maps target features ``(B, C, h, w)`` to filters of the same shape.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

InitializerName = Literal["simple", "flexible-simple", "context-aware", "flexible-context-aware"]
INITIALIZERS: tuple[str, ...] = (
    "simple",
    "flexible-simple",
    "context-aware",
    "flexible-context-aware",
)

# Floor of the context-aware initialiser's determinant, and the local initialiser's epsilon.
_DETERMINANT_FLOOR = 1e-6
_LOCAL_EPS = 1e-6


class ScaledInitializer(nn.Module):
    """``w_i = s * f_i / ||f_i||^2`` (``normalization="sum"``, global GOCor) or
    ``w_i = s * f_i / (mean_c f_i^2 + 1e-6)`` (``normalization="mean"``, local GOCor).

    ``s`` is a learned scalar (``num_channels=None``) or, for the *flexible* variant, one value
    per channel; initially ones. With ``s = 1`` a filter scores exactly 1 on its own feature.
    A zero feature vector (a flat region after a ReLU) gets a zero filter, not NaN.
    """

    def __init__(self, num_channels: int | None = None, normalization: str = "sum"):
        super().__init__()
        if normalization not in ("sum", "mean"):
            raise ValueError(f"normalization must be 'sum' or 'mean', got {normalization!r}")
        self.normalization = normalization
        self.scale = nn.Parameter(torch.ones(1 if num_channels is None else num_channels))

    def forward(self, target: Tensor) -> Tensor:
        scale = self.scale.to(target.dtype).view(1, -1, 1, 1)
        if self.normalization == "mean":
            energy = (target * target).mean(dim=1, keepdim=True) + _LOCAL_EPS
        else:
            energy = (target * target).sum(dim=1, keepdim=True)
            # Zero vectors give zero filters; the denominator 1 there keeps gradients finite.
            energy = torch.where(energy > 0, energy, torch.ones_like(energy))
        return scale * target / energy


class ContextAwareInitializer(nn.Module):
    """Filters that score ``t_fg`` on their own feature and ``t_bg`` on the mean feature.

    With ``f_bar`` the mean target feature, ``w_i = (fg * f_i - bg * f_bar) / den`` where
    ``den = max(|f_i|^2 |f_bar|^2 - <f_i, f_bar>^2, 1e-6)``, ``fg = t_fg |f_bar|^2 - t_bg
    <f_i, f_bar>`` and ``bg = t_fg <f_i, f_bar> - t_bg |f_i|^2``. ``t_fg`` and ``t_bg`` are learned
    scalars or, for the *flexible* variant, per-channel vectors; initially 1 and 0.
    """

    def __init__(self, num_channels: int | None = None):
        super().__init__()
        size = 1 if num_channels is None else num_channels
        self.foreground = nn.Parameter(torch.ones(size))
        self.background = nn.Parameter(torch.zeros(size))

    def forward(self, target: Tensor) -> Tensor:
        foreground = self.foreground.to(target.dtype).view(1, -1, 1, 1)
        background = self.background.to(target.dtype).view(1, -1, 1, 1)
        mean = target.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        ff = (target * target).sum(dim=1, keepdim=True)  # (B, 1, h, w)
        bb = (mean * mean).sum(dim=1, keepdim=True)  # (B, 1, 1, 1)
        fb = (target * mean).sum(dim=1, keepdim=True)  # (B, 1, h, w)
        den = (ff * bb - fb * fb).clamp(min=_DETERMINANT_FLOOR)
        fg = foreground * bb - background * fb
        bg = foreground * fb - background * ff
        return (fg * target - bg * mean) / den


def make_initializer(
    name: str, num_channels: int | None, *, local: bool
) -> ScaledInitializer | ContextAwareInitializer:
    """Build the initialiser called ``name``; flexible variants need ``num_channels``."""
    if name not in INITIALIZERS:
        raise ValueError(f"initializer must be one of {INITIALIZERS}, got {name!r}")
    flexible = name.startswith("flexible-")
    if flexible and (num_channels is None or num_channels < 1):
        raise ValueError(f"initializer {name!r} needs num_channels (the feature channels C)")
    channels = num_channels if flexible else None
    if name.endswith("context-aware"):
        if local:
            raise ValueError(
                "local GOCor supports the 'simple' and 'flexible-simple' initialisers only; "
                f"got {name!r}"
            )
        return ContextAwareInitializer(channels)
    return ScaledInitializer(channels, normalization="mean" if local else "sum")
