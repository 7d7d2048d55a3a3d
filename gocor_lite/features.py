# SPDX-License-Identifier: MIT
"""Feature extractors behind one interface: images ``(B, 3, H, W)`` in ``[0, 1]`` ->
features ``(B, C, h, w)``, each with its ``stride`` (image pixels per feature cell).

Cell ``i`` of an extractor with stride ``s`` describes the image around pixel
``(i + 0.5) * s - 0.5`` (see :mod:`gocor_lite.grid`); ``h = H // s`` and ``w = W // s``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gocor_lite._checks import check_feature_map


class FeatureExtractor(nn.Module):
    """Base class: subclasses set ``name``, ``stride``, ``channels`` and implement ``extract``."""

    name: str = "base"
    stride: int = 1
    channels: int = 0

    def forward(self, images: Tensor) -> Tensor:
        """Shapes: ``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B, C, H // stride, W // stride)``."""
        images = check_feature_map("images", images)
        if images.shape[1] != 3:
            raise ValueError(f"images must have 3 channels (B, 3, H, W), got {tuple(images.shape)}")
        if images.shape[2] < self.stride or images.shape[3] < self.stride:
            raise ValueError(
                f"images of size {tuple(images.shape[2:])} are smaller than one feature cell "
                f"({self.stride} pixels) of the {self.name!r} extractor"
            )
        return self.extract(images)

    def extract(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def grid_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Feature-map size ``(h, w)`` for an image of size ``(H, W)``."""
        return image_size[0] // self.stride, image_size[1] // self.stride


@dataclass(frozen=True)
class DaisyOptions:
    """Parameters of scikit-image's DAISY (defaults give 104 channels)."""

    radius: int = 15  # outer ring radius, in pixels
    rings: int = 2
    histograms: int = 6  # per ring
    orientations: int = 8


class DaisyExtractor(FeatureExtractor):
    """Dense DAISY descriptors (Tola et al., 2010) from scikit-image: a training-free baseline.

    Descriptors are sampled every ``stride`` pixels on the grey image, centred on pixel
    ``i * stride + stride // 2``: the cell centre of :mod:`gocor_lite.grid` rounded up by half a
    pixel for even strides. The image border is reflected so every cell has a descriptor.
    Computed with numpy on the CPU; the result follows the input's device and dtype.
    """

    name = "daisy"

    def __init__(self, stride: int = 8, options: DaisyOptions | None = None):
        super().__init__()
        self.stride = stride
        self.options = options or DaisyOptions()
        per_ring = self.options.rings * self.options.histograms + 1
        self.channels = per_ring * self.options.orientations

    def extract(self, images: Tensor) -> Tensor:
        from skimage.feature import daisy

        radius, stride = self.options.radius, self.stride
        height, width = self.grid_size((images.shape[2], images.shape[3]))
        grey = (
            (
                images.detach().to("cpu", torch.float64)
                * torch.tensor([0.2125, 0.7154, 0.0721], dtype=torch.float64).view(1, 3, 1, 1)
            )
            .sum(1)
            .numpy()
        )  # (B, H, W)
        out = []
        for image in grey:
            # daisy samples at radius + k * step; pad so that sample k lands on the cell centre.
            before = radius - stride // 2
            padded = np.pad(image, ((before, radius), (before, radius)), mode="reflect")
            descriptors = daisy(
                padded,
                step=stride,
                radius=radius,
                rings=self.options.rings,
                histograms=self.options.histograms,
                orientations=self.options.orientations,
            )  # (rows, cols, C)
            out.append(torch.from_numpy(np.ascontiguousarray(descriptors[:height, :width])))
        features = torch.stack(out).permute(0, 3, 1, 2)  # (B, C, h, w)
        return features.to(device=images.device, dtype=images.dtype)


_REGISTRY: dict[str, Callable[..., FeatureExtractor]] = {
    "daisy": DaisyExtractor,
}


def register_extractor(name: str, factory: Callable[..., FeatureExtractor]) -> None:
    """Make ``make_extractor(name, ...)`` build extractors with ``factory(...)``."""
    _REGISTRY[name] = factory


def extractor_names() -> list[str]:
    """Names accepted by :func:`make_extractor`."""
    return list(_REGISTRY)


def make_extractor(name: str, **options: Any) -> FeatureExtractor:
    """Build the extractor called ``name`` (see :func:`extractor_names`)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown feature extractor {name!r}; available: {extractor_names()}")
    return _REGISTRY[name](**options)


def default_extractor_name() -> str:
    """The extractor the app, the notebooks and the commands use unless told otherwise."""
    return "daisy"
