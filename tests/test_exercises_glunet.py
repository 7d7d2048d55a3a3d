# SPDX-License-Identifier: MIT
"""Notebook 9's exercises accept right answers written by a different route (a loop over the
pixels with the bilinear formula by hand, not ``grid_sample``; the inverse flow pixel by
pixel) on every instance."""

from __future__ import annotations

import math

import torch

from gocor_lite.exercises import glunet, grade
from tests.by_hand import assert_right_answers_pass


def _warp_by_loops(source, flow):
    batch, channels, source_height, source_width = source.shape
    height, width = flow.shape[2:]
    warped = torch.zeros(batch, channels, height, width, dtype=source.dtype)

    def colour(b, c, row, column):  # zero outside the source
        inside = 0 <= row < source_height and 0 <= column < source_width
        return float(source[b, c, row, column]) if inside else 0.0

    for b in range(batch):
        for y in range(height):
            for x in range(width):
                sx, sy = x + float(flow[b, 0, y, x]), y + float(flow[b, 1, y, x])
                left, top = math.floor(sx), math.floor(sy)
                ax, ay = sx - left, sy - top
                for c in range(channels):
                    warped[b, c, y, x] = (
                        (1 - ax) * (1 - ay) * colour(b, c, top, left)
                        + ax * (1 - ay) * colour(b, c, top, left + 1)
                        + (1 - ax) * ay * colour(b, c, top + 1, left)
                        + ax * ay * colour(b, c, top + 1, left + 1)
                    )
    return warped


def _inverse_by_loops(flow, source_size):
    source_height, source_width = source_size
    inverse = torch.full((2, source_height, source_width), math.nan, dtype=flow.dtype)
    for y in range(flow.shape[1]):
        for x in range(flow.shape[2]):
            u, v = float(flow[0, y, x]), float(flow[1, y, x])
            if math.isnan(u) or math.isnan(v):
                continue
            column, row = x + round(u), y + round(v)
            if 0 <= row < source_height and 0 <= column < source_width:
                inverse[0, row, column], inverse[1, row, column] = -u, -v
    return inverse


RIGHT = {
    "the backward warp": _warp_by_loops,
    "the source-to-target flow": _inverse_by_loops,
}


def test_right_answers_pass():
    assert_right_answers_pass(glunet.EXERCISES, RIGHT)


def test_a_number_where_nan_is_expected_is_refused():
    # the inverse flow is NaN where no target pixel lands: zero there must not pass
    result = grade(
        "the source-to-target flow",
        lambda flow, size: _inverse_by_loops(flow, size).nan_to_num(0.0),
    )
    assert not result.ok and "where NaN is expected" in str(result), str(result)
