# SPDX-License-Identifier: MIT
"""Notebook 1's exercises accept right answers written by a different route (loops, not the
library's matrix multiply) on every instance."""

from __future__ import annotations

import torch

from gocor_lite.exercises import correlation
from tests.by_hand import assert_right_answers_pass


def _volume_by_loops(target, source):
    batch, channels, height, width = target.shape
    _, _, source_height, source_width = source.shape
    volume = torch.zeros(batch, height, width, source_height, source_width, dtype=target.dtype)
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                for j in range(source_height):
                    for i in range(source_width):
                        volume[b, y, x, j, i] = sum(
                            float(target[b, c, y, x]) * float(source[b, c, j, i])
                            for c in range(channels)
                        )
    return volume


def _mebibytes(height, width, source_height, source_width):
    cells = height * width * source_height * source_width
    return cells * 4 / (1024 * 1024)


RIGHT = {
    "the global volume": _volume_by_loops,
    "the size of the global volume in MiB": _mebibytes,
}


def test_right_answers_pass():
    assert_right_answers_pass(correlation.EXERCISES, RIGHT)
