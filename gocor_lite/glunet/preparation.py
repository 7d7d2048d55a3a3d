# SPDX-License-Identifier: MIT
"""The images GLU-Net reads: two copies of each image of a pair, both made from the original
(reference §2.1, pitfalls 3 and 4).

1. Working size ``(H', W')`` from the **target**'s size alone: each side 256 if below 256, else
   floored to a multiple of 8 (:func:`~gocor_lite.glunet.geometry.working_size`).
2. Full-resolution copies: both images resized to ``(H', W')`` with 'area' resampling
   (adaptive average pooling; it *upsamples* images smaller than 256 by repeating pixels),
   truncated to uint8 (the fraction dropped), divided by 255, ImageNet-normalised.
3. L-Net copies: the same from the originals at ``L x L`` (256), aspect ratio not kept.

Everything is computed in the dtype asked for (the network's), so a float64 network prepares
its inputs in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gocor_lite.files.images import as_rgb_uint8
from gocor_lite.glunet.geometry import Size, working_size

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreparedPair:
    """The network's four inputs for a batch of pairs, and the sizes they came from.

    Shapes: ``target``, ``source`` ``(B, 3, H', W')``; ``target_l``, ``source_l``
    ``(B, 3, L, L)``; ImageNet-normalised floats.
    """

    target: Tensor
    source: Tensor
    target_l: Tensor
    source_l: Tensor
    target_size: Size  # (H_t, W_t) of the original target
    source_size: Size  # (H_s, W_s) of the original source

    @property
    def working_size(self) -> Size:
        return (self.target.shape[2], self.target.shape[3])


def as_uint8_images(image: object, name: str) -> Tensor:
    """A uint8 ``(B, 3, H, W)`` tensor (returned as is) or a numpy image ``(H, W, 3)`` (any
    :func:`~gocor_lite.files.images.as_rgb_uint8` input: grey, RGBA, ...; becomes ``(1, 3, H, W)``
    on the CPU). Anything else raises ``ValueError`` saying what is expected."""
    if isinstance(image, np.ndarray):
        array = as_rgb_uint8(image)
        return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None]
    if not isinstance(image, Tensor):
        raise ValueError(
            f"{name} must be a uint8 tensor (B, 3, H, W) or a numpy image (H, W, 3), got "
            f"{type(image).__name__}"
        )
    if image.dtype != torch.uint8:
        raise ValueError(
            f"{name} must hold uint8 values 0..255 (the network truncates its resized inputs to "
            f"uint8, as the authors' code does), got {image.dtype}; for float images in [0, 1] "
            "pass (images * 255).round().to(torch.uint8)"
        )
    if image.dim() != 4 or image.shape[1] != 3 or min(image.shape) == 0:
        raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(image.shape)}")
    return image


def prepare_image(images: Tensor, size: Size, dtype: torch.dtype) -> Tensor:
    """One copy: ``uint8 (B, 3, H, W) -> (B, 3, *size)``: float, 'area' resize, truncation to
    uint8, ``/ 255``, ``(x - mean) / std`` per channel."""
    if tuple(images.shape[2:]) == tuple(size):
        # 'area' to the same size averages one pixel per cell, and truncating an integer
        # changes nothing: the same numbers without the two passes.
        truncated = images.to(dtype) / 255.0
    else:
        resized = F.interpolate(images.to(dtype), size=size, mode="area")
        truncated = resized.to(torch.uint8).to(dtype) / 255.0  # floor (values are in 0..255)
    mean = torch.tensor(IMAGENET_MEAN, dtype=dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=dtype, device=images.device).view(1, 3, 1, 1)
    return (truncated - mean) / std


def prepare_pair(
    target: Tensor,
    source: Tensor,
    *,
    l_net_size: int = 256,
    dtype: torch.dtype = torch.float32,
    max_working_side: int | None = None,
) -> PreparedPair:
    """The four inputs of the network from uint8 ``(B, 3, H_t, W_t)`` and ``(B, 3, H_s, W_s)``
    images (target first: the flow's grid). The source is resized to the target's working
    size whatever its own size (pitfall 2); ``max_working_side`` caps that size
    (:func:`~gocor_lite.glunet.geometry.working_size`)."""
    target_size = (target.shape[2], target.shape[3])
    source_size = (source.shape[2], source.shape[3])
    working = working_size(target_size, minimum=256, maximum=max_working_side)
    square = (l_net_size, l_net_size)
    return PreparedPair(
        target=prepare_image(target, working, dtype),
        source=prepare_image(source, working, dtype),
        target_l=prepare_image(target, square, dtype),
        source_l=prepare_image(source, square, dtype),
        target_size=target_size,
        source_size=source_size,
    )
