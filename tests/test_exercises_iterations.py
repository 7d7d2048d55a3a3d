# SPDX-License-Identifier: MIT
"""Notebook 7's exercise accepts a right answer written by a different route (a loop over the
cells, one verdict at a time) on every instance."""

from __future__ import annotations

from gocor_lite.exercises import iterations
from tests.by_hand import assert_right_answers_pass


def _net_gain_by_loop(correlation_errors, gocor_errors, known, stride):
    height, width = known.shape
    gain = 0
    for y in range(height):
        for x in range(width):
            if not bool(known[y, x]):
                continue
            was_right = float(correlation_errors[y, x]) < stride
            is_right = float(gocor_errors[y, x]) < stride
            if is_right and not was_right:
                gain += 1
            elif was_right and not is_right:
                gain -= 1
    return gain


RIGHT = {"cells fixed minus cells broken": _net_gain_by_loop}


def test_right_answers_pass():
    assert_right_answers_pass(iterations.EXERCISES, RIGHT)
