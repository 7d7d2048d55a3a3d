# SPDX-License-Identifier: MIT
"""Reference computations the tests share, written with plain loops (never the library's
tensor code they are compared with)."""

from __future__ import annotations


def peak_ratio_by_loops(scores) -> float:
    """The peak ratio of one score map ``(h', w')``: its best score over the best score of the
    cells outside the 3x3 box around the best, both floored at 1e-6 (as
    :func:`gocor_lite.reading.confidence.peak_ratio` defines it)."""
    height, width = scores.shape
    cells = [(float(scores[y, x]), y, x) for y in range(height) for x in range(width)]
    best, best_y, best_x = max(cells)
    second = max(value for value, y, x in cells if abs(y - best_y) > 1 or abs(x - best_x) > 1)
    return max(best, 1e-6) / max(second, 1e-6)


def assert_right_answers_pass(exercises, right) -> None:
    """Every exercise of a topic module (``exercises``: its ``EXERCISES``) has a right answer in
    ``right`` (name -> function, written another way than the library), and each passes."""
    from gocor_lite.exercises import grade

    assert set(right) == set(exercises)
    for name, answer in right.items():
        result = grade(name, answer)
        assert result.ok, str(result)
