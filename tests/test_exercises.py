# SPDX-License-Identifier: MIT
"""The exercises' checks say right to right answers and wrong to wrong ones."""

from __future__ import annotations

import numpy as np
import torch

from gocor_lite.exercises import check


def test_right_answers():
    assert check(torch.ones(2, 3), np.ones((2, 3)), "ones").ok
    assert check(np.array([1.0, np.nan]), [1.0, np.nan], "with NaN").ok
    assert check(3, 3, "an integer").ok
    assert check(torch.tensor([True, False]), [True, False], "booleans").ok
    assert str(check(0.1 + 0.2, 0.3, "a sum")) == "right: a sum"


def test_wrong_answers_say_how():
    cases = [
        (None, 1.0, "no answer yet"),
        (torch.ones(2, 3), np.ones((3, 2)), "shape (2, 3), expected (3, 2)"),
        (
            np.array([1.0, 2.0]),
            [1.0, 2.1],
            "1 of 2 entries off; the worst at index (1,) is about 4.8 % too small",
        ),
        (np.array([1.0, np.nan]), [1.0, 2.0], "NaN at index (1,) where a number is expected"),
        (4, 3, "too large (it must be exact)"),
        (3.0001, 3, "too large (it must be exact)"),  # integers are exact
        (-2.0, 2.0, "the sign is wrong"),
        (0.5, 0.0, "not zero (it must be zero)"),
        ("three", 3, "not numbers"),
        ([True, True], [True, False], "1 of 2 entries differ (the first at index (1,))"),
    ]
    for answer, expected, words in cases:
        result = check(answer, expected, "x")
        assert not result.ok and not result, (answer, expected)
        assert str(result).startswith("wrong: x: ") and words in str(result), str(result)
        # the expected value is never printed (a wrong try must not give the answer away)
        assert repr(float(np.asarray(expected, dtype=float).ravel()[-1])) not in str(result)
