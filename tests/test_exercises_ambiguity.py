# SPDX-License-Identifier: MIT
"""Notebook 2's exercises accept right answers written by a different route (loops over the
cells, not the library's masks) on every instance, and the instances catch what they name."""

from __future__ import annotations

import math

import torch

from gocor_lite.exercises import ambiguity
from tests.by_hand import assert_right_answers_pass, peak_ratio_by_loops


def _percent_by_loops(error, stride):
    counted = right = 0
    for value in error.flatten().tolist():
        if math.isnan(value):
            continue
        counted += 1
        right += value < stride
    return 100.0 * right / counted


RIGHT = {"the peak ratio": peak_ratio_by_loops, "the % of cells right": _percent_by_loops}


def test_right_answers_pass():
    assert_right_answers_pass(ambiguity.EXERCISES, RIGHT)


def test_peak_ratio_instances_hold_what_they_name():
    """The first map's highest competitor is a diagonal neighbour of the best; the third's best
    is on the border; the fourth is not square; the fifth's second peak is two cells from the
    best along its column: each as its name says."""
    diagonal, _, corner, wide, column = (i.arguments[0] for i in ambiguity._ratio_instances())
    best = divmod(int(diagonal.argmax()), diagonal.shape[1])
    flat = diagonal.flatten().clone()
    flat[int(diagonal.argmax())] = -1
    runner_up = divmod(int(flat.argmax()), diagonal.shape[1])
    assert abs(runner_up[0] - best[0]) == 1 and abs(runner_up[1] - best[1]) == 1
    assert divmod(int(corner.argmax()), corner.shape[1]) == (0, 0)
    assert wide.shape[0] != wide.shape[1]
    best_row, best_column = divmod(int(column.argmax()), column.shape[1])
    rows, columns = torch.meshgrid(
        torch.arange(column.shape[0]), torch.arange(column.shape[1]), indexing="ij"
    )
    outside = torch.maximum((rows - best_row).abs(), (columns - best_column).abs()) > 1
    second = divmod(int(torch.where(outside, column, -1.0).argmax()), column.shape[1])
    assert second[1] == best_column and abs(second[0] - best_row) == 2
    assert all(bool((i.arguments[0] > 0).all()) for i in ambiguity._ratio_instances())


def test_accuracy_instances_hold_what_they_name():
    exact, unknown, small = (i.arguments for i in ambiguity._accuracy_instances())
    assert bool((exact[0] == exact[1]).any())  # an error of exactly one stride
    assert bool(torch.isnan(unknown[0]).any())
    assert small[1] != 8 and bool(((small[0] >= small[1]) & (small[0] < 8)).any())
