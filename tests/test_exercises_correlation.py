# SPDX-License-Identifier: MIT
"""Notebook 1's exercises accept right answers written by a different route (loops, not the
library's matrix multiply) on every instance."""

from __future__ import annotations

from gocor_lite.exercises import correlation
from tests.by_hand import assert_right_answers_pass
from tests.test_correlation import naive_global


def _mebibytes(height, width, source_height, source_width):
    cells = height * width * source_height * source_width
    return cells * 4 / (1024 * 1024)


RIGHT = {
    "the global volume": naive_global,
    "the size of the global volume in MiB": _mebibytes,
}


def test_right_answers_pass():
    assert_right_answers_pass(correlation.EXERCISES, RIGHT)
