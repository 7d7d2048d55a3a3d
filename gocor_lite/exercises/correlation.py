# SPDX-License-Identifier: MIT
"""Notebook 1's exercises: the global volume by hand, and its size.

Each instance is chosen so that a usual mistake changes the answer: grids that are not square
and differ between the images (a transposed or swapped index), two images in the batch (a
batch index summed away), channels that are not unit vectors (a mean instead of a sum).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gocor_lite.core.correlation import global_correlation
from gocor_lite.exercises.grading import Exercise, Instance


def _features(seed: int, batch: int, channels: int, height: int, width: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, height, width, generator=generator, dtype=torch.float64)


def _volume_instances() -> list[Instance]:
    return [
        Instance(
            "a 3x5 target against a 4x2 source (grids neither square nor equal)",
            (_features(1, 1, 6, 3, 5), _features(2, 1, 6, 4, 2)),
        ),
        Instance(
            "a batch of two pairs (each pair scored on its own)",
            (_features(3, 2, 4, 2, 3), _features(4, 2, 4, 3, 2)),
        ),
    ]


def _mebibytes(height: int, width: int, source_height: int, source_width: int) -> float:
    """MiB of a float32 global volume of one pair: ``h w h' w'`` scores of 4 bytes."""
    return height * width * source_height * source_width * 4 / 2**20


def _size_instances() -> list[Instance]:
    return [
        Instance("a 16x16 target against a 16x16 source", (16, 16, 16, 16)),
        Instance("a 30x40 target against a 20x10 source (the grids differ)", (30, 40, 20, 10)),
    ]


EXERCISES = {
    "the global volume": Exercise(
        "the global volume", global_correlation, _volume_instances, atol=1e-9, rtol=1e-9
    ),
    "the size of the global volume in MiB": Exercise(
        "the size of the global volume in MiB", _mebibytes, _size_instances
    ),
}
