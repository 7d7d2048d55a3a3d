# SPDX-License-Identifier: MIT
"""Images and synthetic pairs for training and evaluating the flow pipeline.

The images ship inside scikit-image (``skimage.data``; nothing is downloaded). They are split
once, here: the decoders train on :data:`TRAIN_IMAGES` and are evaluated on the other images
(:data:`EVAL_SETS`) and on the real stereo pair, with different random seeds, so nothing is
tuned on what the evaluation measures.

A synthetic pair takes an image as the source, draws a random homography ``T`` and builds the
target by sampling the source at ``T(p)``, so ``flow(p) = T(p) - p`` exactly (the GLU-Net
recipe); brightness and contrast change independently on both images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from gocor_lite.flow.geometry import resize_images, warp
from gocor_lite.images import to_tensor

# skimage.data loaders, by name.
TRAIN_IMAGES: tuple[str, ...] = (
    "astronaut",
    "rocket",
    "camera",
    "coins",
    "retina",
    "immunohistochemistry",
    "grass",
    "moon",
)
EVAL_SETS: dict[str, tuple[str, ...]] = {
    "natural": ("chelsea", "coffee"),  # photographs
    "repeated": ("brick", "gravel"),  # repeated structure: GOCor's case
}
# Seeds of evaluation pairs start here; training pairs use seeds below it.
EVAL_SEED = 10_000


class PairBatch(NamedTuple):
    """Synthetic pairs. Shapes: target, source ``(B, 3, H, W)`` in ``[0, 1]``; flow
    ``(B, 2, H, W)`` (pixels, finite); valid ``(B, 1, H, W)``, true where the match is inside
    the source."""

    target: Tensor
    source: Tensor
    flow: Tensor
    valid: Tensor


def load_image(name: str, size: tuple[int, int]) -> Tensor:
    """``skimage.data.<name>()`` centre-cropped to the aspect of ``size = (H, W)`` and resized:
    ``(1, 3, H, W)`` float in ``[0, 1]``."""
    from skimage import data

    image = to_tensor(getattr(data, name)())
    height, width = image.shape[2:]
    aspect = size[1] / size[0]
    crop_height, crop_width = min(height, round(width / aspect)), min(width, round(height * aspect))
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return resize_images(image[:, :, top : top + crop_height, left : left + crop_width], size)


def _homography(corners: Tensor, moved: Tensor) -> Tensor:
    """The ``(3, 3)`` homography mapping four points ``corners (4, 2)`` to ``moved (4, 2)``."""
    rows = []
    for (x, y), (u, v) in zip(corners.tolist(), moved.tolist(), strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, v])
    system = torch.tensor(rows, dtype=torch.float64)
    solution = torch.linalg.solve(system[:, :8], system[:, 8])
    return torch.cat([solution, solution.new_ones(1)]).view(3, 3)


def homography_flow(matrix: Tensor, size: tuple[int, int]) -> Tensor:
    """The flow ``T(p) - p`` of a homography on pixel coordinates: ``(1, 2, H, W)`` float64."""
    height, width = size
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    points = torch.stack([xs, ys, torch.ones_like(xs)])  # (3, H, W)
    mapped = torch.einsum("ij,jhw->ihw", matrix.to(torch.float64), points)
    return (mapped[:2] / mapped[2:] - points[:2])[None]


def random_homography(
    size: tuple[int, int], generator: torch.Generator, strength: float = 0.12
) -> Tensor:
    """A random homography on pixel coordinates of a ``(H, W)`` image: the corners move by a
    common zoom (0.8..1), rotation (+-10 degrees), shift (+-``strength/2``) and each by its own
    jitter (+-``strength``), as fractions of the image size. ``(3, 3)`` float64."""
    height, width = size

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)

    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    zoom = uniform(0.8, 1.0, 1)
    angle = uniform(-1.0, 1.0, 1) * np.pi / 18
    rotation = torch.stack(
        [torch.cat([angle.cos(), -angle.sin()]), torch.cat([angle.sin(), angle.cos()])]
    )
    moved = (corners - 0.5) * zoom @ rotation.T + 0.5
    moved = moved + uniform(-strength / 2, strength / 2, 1, 2) + uniform(-strength, strength, 4, 2)
    scale = torch.tensor([width - 1.0, height - 1.0], dtype=torch.float64)
    return _homography(corners * scale, moved * scale)


def _photometric(images: Tensor, generator: torch.Generator) -> Tensor:
    gain = 1 + 0.2 * (torch.rand(images.shape[0], 1, 1, 1, generator=generator) - 0.5)
    offset = 0.1 * (torch.rand(images.shape[0], 1, 1, 1, generator=generator) - 0.5)
    return (images * gain.to(images) + offset.to(images)).clamp(0, 1)


def make_pairs(names: Sequence[str], count: int, size: tuple[int, int], seed: int) -> PairBatch:
    """``count`` synthetic pairs of ``size = (H, W)``, cycling through the images ``names``;
    pair ``k`` is drawn from seed ``seed + k`` (so a pair does not depend on ``count``)."""
    images = {name: load_image(name, size) for name in names}
    targets, sources, flows, valids = [], [], [], []
    height, width = size
    for k in range(count):
        generator = torch.Generator().manual_seed(seed + k)
        source = images[names[k % len(names)]]
        flow = homography_flow(random_homography(size, generator), size)
        ends = (
            flow
            + torch.stack(
                torch.meshgrid(
                    torch.arange(width, dtype=torch.float64),
                    torch.arange(height, dtype=torch.float64),
                    indexing="xy",
                )
            )[None]
        )
        valid = (
            (ends[:, 0] >= 0)
            & (ends[:, 0] <= width - 1)
            & (ends[:, 1] >= 0)
            & (ends[:, 1] <= height - 1)
        )[:, None]
        target = warp(source, flow.to(source.dtype)) * valid
        targets.append(_photometric(target, generator))
        sources.append(_photometric(source, generator))
        flows.append(flow.to(source.dtype))
        valids.append(valid)
    return PairBatch(torch.cat(targets), torch.cat(sources), torch.cat(flows), torch.cat(valids))
