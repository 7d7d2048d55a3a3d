# SPDX-License-Identifier: MIT
"""Argument checks shared by the public functions: one clear ``ValueError`` per misuse."""

from __future__ import annotations

import torch
from torch import Tensor


def check_feature_map(name: str, value: object, *, finite: bool = True) -> Tensor:
    """Return ``value`` if it is a floating ``(B, C, h, w)`` tensor, else raise ``ValueError``.

    The message names the argument and the shape received, so that a caller who passed an
    image, a volume or a channels-last map learns at once what went wrong.
    """
    if not isinstance(value, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, C, h, w), got {type(value)}")
    if value.dim() != 4:
        raise ValueError(
            f"{name} must have shape (B, C, h, w) (4 dimensions), got shape {tuple(value.shape)}"
        )
    if not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if min(value.shape) == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    # A meta tensor has no values to check; every other device does.
    # A finite sum proves every entry finite (a NaN or an infinity would propagate), in one
    # read and no allocation; only a non-finite sum (or an overflow) needs the exact test.
    if (
        finite
        and value.device.type != "meta"
        and not bool(torch.isfinite(value.sum()))
        and not bool(torch.isfinite(value).all())
    ):
        raise ValueError(
            f"{name} contains NaN or infinite values (shape {tuple(value.shape)}); "
            "check the images and the feature extractor that produced it"
        )
    return value


def check_feature_pair(
    target: object, source: object, *, same_size: bool = False
) -> tuple[Tensor, Tensor]:
    """Check a target/source pair of feature maps: same batch, channels, device and dtype."""
    target = check_feature_map("target", target)
    source = check_feature_map("source", source)
    if target.shape[0] != source.shape[0]:
        raise ValueError(
            "target and source must have the same batch size, got "
            f"target {tuple(target.shape)} and source {tuple(source.shape)}"
        )
    if target.shape[1] != source.shape[1]:
        raise ValueError(
            "target and source must have the same number of channels, got "
            f"target {tuple(target.shape)} and source {tuple(source.shape)}"
        )
    if same_size and target.shape[2:] != source.shape[2:]:
        raise ValueError(
            "target and source must have the same spatial size here, got "
            f"target {tuple(target.shape)} and source {tuple(source.shape)}"
        )
    if target.dtype != source.dtype or target.device != source.device:
        raise ValueError(
            "target and source must share dtype and device, got "
            f"{target.dtype} on {target.device} and {source.dtype} on {source.device}"
        )
    return target, source


def check_radius(radius: object) -> int:
    """A search radius is a non-negative Python integer."""
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"radius must be an integer >= 0, got {radius!r}")
    return radius


def check_flow(flow: object) -> Tensor:
    """A flow is a ``(B, 2, H, W)`` tensor (x then y)."""
    if not isinstance(flow, Tensor) or flow.dim() != 4 or flow.shape[1] != 2:
        shape = tuple(flow.shape) if isinstance(flow, Tensor) else type(flow)
        raise ValueError(f"flow must have shape (B, 2, H, W), got {shape}")
    return flow
