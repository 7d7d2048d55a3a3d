# SPDX-License-Identifier: MIT
"""Notebooks 3 and 4's exercises accept right answers written by a different route (loops
and log-sum-exp in plain Python floats, not the library's tensors) on every instance."""

from __future__ import annotations

import math

import torch

from gocor_lite.exercises import reading
from tests.by_hand import assert_right_answers_pass


def _soft_argmax_by_loops(scores, temperature):
    height, width = scores.shape
    scaled = [[float(scores[y, x]) / temperature for x in range(width)] for y in range(height)]
    top = max(max(row) for row in scaled)
    weights = [[math.exp(value - top) for value in row] for row in scaled]
    total = sum(sum(row) for row in weights)
    x = sum(weights[y][i] * i for y in range(height) for i in range(width)) / total
    y = sum(weights[j][i] * j for j in range(height) for i in range(width)) / total
    return [x, y]


def _mutual_by_loops(volume):
    batch, height, width, source_height, source_width = volume.shape
    out = torch.zeros(batch, height, width, dtype=torch.bool)
    targets = [(y, x) for y in range(height) for x in range(width)]
    sources = [(j, i) for j in range(source_height) for i in range(source_width)]
    for b in range(batch):
        for y, x in targets:
            # ties to the first cell in row-major order, as max() over the list keeps the first
            j, i = max(sources, key=lambda cell: float(volume[b, y, x, cell[0], cell[1]]))
            back = max(targets, key=lambda cell: float(volume[b, cell[0], cell[1], j, i]))
            out[b, y, x] = back == (y, x)
    return out


def _log_sum_exp(values):
    top = max(values)
    return top + math.log(sum(math.exp(value - top) for value in values))


def _dual_softmax_by_loops(volume, temperature):
    batch, height, width, source_height, source_width = volume.shape
    targets = [(y, x) for y in range(height) for x in range(width)]
    sources = [(j, i) for j in range(source_height) for i in range(source_width)]
    scaled = (volume.double() / temperature).tolist()
    out = torch.zeros(volume.shape, dtype=torch.float64)
    for b in range(batch):
        rows = {t: _log_sum_exp([scaled[b][t[0]][t[1]][j][i] for j, i in sources]) for t in targets}
        columns = {
            s: _log_sum_exp([scaled[b][y][x][s[0]][s[1]] for y, x in targets]) for s in sources
        }
        for y, x in targets:
            for j, i in sources:
                value = scaled[b][y][x][j][i]
                out[b, y, x, j, i] = math.exp(2 * value - rows[(y, x)] - columns[(j, i)])
    return out.to(volume.dtype)


RIGHT = {
    "the soft-argmax": _soft_argmax_by_loops,
    "mutual nearest neighbours": _mutual_by_loops,
    "the dual-softmax": _dual_softmax_by_loops,
}


def test_right_answers_pass():
    assert_right_answers_pass(reading.EXERCISES, RIGHT)


def test_instances_hold_what_they_name():
    """Grids neither square nor equal; both mutual and non-mutual cells in every volume; an
    overflow where the name promises one."""
    for instance in reading._mutual_instances():
        (volume,) = instance.arguments
        assert volume.shape[1:3] != volume.shape[3:5]
        mutual = reading.mutual_nearest_neighbours(volume)
        assert bool(mutual.any()) and not bool(mutual.all()), instance.name
    for instance in (*reading._soft_argmax_instances(), *reading._dual_softmax_instances()):
        scores, temperature = instance.arguments
        overflows = not bool(torch.isfinite((scores / temperature).exp()).all())
        assert overflows == ("overflows" in instance.name), instance.name
