# SPDX-License-Identifier: MIT
"""Argument checks shared by the public functions: one clear ``ValueError`` per misuse.

Shape, dtype and device checks read only metadata. The finiteness check reads values, so it is
written not to stall an accelerator (see :func:`check_finite`).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor


def check_finite(name: str, value: Tensor, *, wait: bool = False) -> None:
    """Refuse a tensor with NaN or infinite entries.

    * On the CPU (eagerly): a ``ValueError`` at once that names ``name``.
    * On an accelerator, or while ``torch.compile`` traces, with ``wait=False``: an
      asynchronous device assertion (``torch._assert_async``). The host does not wait for the
      device; a failure surfaces as a ``RuntimeError`` at the next synchronisation (on CUDA a
      device-side assertion, after which the process should be restarted). No graph break.
    * ``wait=True``: a ``ValueError`` at once on any device (the host waits for one number;
      for inspection code, not for training loops).

    Meta tensors have no values and pass.
    """
    if value.device.type == "meta":
        return
    message = (
        f"{name} contains NaN or infinite values (shape {tuple(value.shape)}); "
        "check the images and the feature extractor that produced it"
    )
    if torch.compiler.is_compiling() or (value.device.type != "cpu" and not wait):
        torch._assert_async(torch.isfinite(value).all(), message)
        return
    # A finite sum proves every entry finite (a NaN or an infinity would propagate), in one
    # read and no allocation; only a non-finite sum (or an overflow) needs the exact test.
    if not bool(torch.isfinite(value.sum())) and not bool(torch.isfinite(value).all()):
        raise ValueError(message)


def check_feature_map(name: str, value: object, *, finite: bool = True) -> Tensor:
    """Return ``value`` if it is a floating ``(B, C, h, w)`` tensor, else raise ``ValueError``.

    The message names the argument and the shape received, so that a caller who passed an
    image, a volume or a channels-last map learns at once what went wrong. ``finite``: also
    refuse NaN and infinite values (:func:`check_finite`, without host synchronisation).
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
    if finite:
        check_finite(name, value)
    return value


def check_feature_pair(
    target: object, source: object, *, same_size: bool = False, finite: bool = True
) -> tuple[Tensor, Tensor]:
    """Check a target/source pair of feature maps: same batch, channels, device and dtype.

    ``finite``: also refuse NaN and infinite values (:func:`check_finite`).
    """
    target = check_feature_map("target", target, finite=False)
    source = check_feature_map("source", source, finite=False)
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
    if finite:
        check_finite("target", target)
        check_finite("source", source)
    return target, source


def check_radius(radius: object, name: str = "radius") -> int:
    """A radius (a search radius, an exclusion radius) is a non-negative Python integer, in
    feature cells."""
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 0:
        raise ValueError(f"{name} must be an integer >= 0 (cells), got {radius!r}")
    return radius


def check_volume(
    volume: object,
    kind: Literal["global", "local"] = "global",
    *,
    radius: int | None = None,
    name: str = "volume",
) -> Tensor:
    """Return ``volume`` if it is a floating correlation volume of ``kind``, else raise
    ``ValueError``: the one check of every function that reads a volume.

    * ``"global"``: ``(B, h, w, h', w')``, a score for every target and source cell;
    * ``"local"``: ``(B, h, w, 2R+1, 2R+1)``, a square window of odd side per target cell;
      ``radius``: exactly that ``R``.

    The message names the argument, the shape expected and the shape received. Metadata only.
    """
    if kind == "global":
        expected = "(B, h, w, h', w') (a global volume)"
    elif radius is None:
        expected = "(B, h, w, 2R+1, 2R+1) (a local volume)"
    else:
        side = 2 * radius + 1
        expected = f"(B, h, w, {side}, {side}) (a local volume of radius {radius})"
    if not isinstance(volume, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {expected}, got {type(volume)}")
    wrong = volume.dim() != 5
    if kind == "local" and not wrong:
        side = volume.shape[-1]
        wrong = (
            volume.shape[-2] != side
            or side % 2 == 0
            or (radius is not None and side != 2 * radius + 1)
        )
    if wrong:
        raise ValueError(f"{name} must have shape {expected}, got shape {tuple(volume.shape)}")
    if not volume.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {volume.dtype}")
    return volume


def check_flow(flow: object) -> Tensor:
    """A flow is a ``(B, 2, H, W)`` tensor (x then y)."""
    if not isinstance(flow, Tensor) or flow.dim() != 4 or flow.shape[1] != 2:
        shape = tuple(flow.shape) if isinstance(flow, Tensor) else type(flow)
        raise ValueError(f"flow must have shape (B, 2, H, W), got {shape}")
    return flow
