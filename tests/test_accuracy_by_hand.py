# SPDX-License-Identifier: MIT
"""``gocor_lite.evaluation.metrics.accuracy`` (the PCK of a dense flow) on flows small enough
to count by hand: an error equal to the threshold is not below it, and with a source size only
pixels whose true match lands inside that source (pixel centres at integers, edges at -0.5 and
W' - 0.5) count; each axis against its own side of a non-square source."""

from __future__ import annotations

import math

import pytest
import torch

from gocor_lite.evaluation.metrics import accuracy


def _row(true_u: list[float], predicted_u: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1 x N target, flows along x only: (predicted, true), each (1, 2, 1, N)."""
    predicted = torch.zeros(1, 2, 1, len(true_u), dtype=torch.float64)
    true = torch.zeros_like(predicted)
    predicted[0, 0, 0] = torch.tensor(predicted_u, dtype=torch.float64)
    true[0, 0, 0] = torch.tensor(true_u, dtype=torch.float64)
    return predicted, true


def test_an_error_equal_to_the_threshold_is_not_counted():
    # errors 1, 0.5, 0, 0.25 pixels
    predicted, true = _row([0.0, 0.0, 0.0, 0.0], [1.0, 0.5, 0.0, -0.25])
    assert accuracy(predicted, true, threshold=1.0) == 0.75
    assert accuracy(predicted, true, threshold=0.5) == 0.5
    assert accuracy(predicted, true, threshold=1.0 + 1e-9) == 1.0
    assert accuracy(predicted, true, threshold=0.25) == 0.25


def test_only_true_matches_inside_a_wide_source_count():
    """A 1 x 4 target, true flow zero: true matches at x = 0, 1, 2, 3. The prediction is 2 px
    off at x = 0 and right elsewhere. A 1 x 4 source holds all four (3 of 4 right); a 1 x 3
    source (x < 2.5) three of them (2 of 3 right); a 1 x 1 source only x = 0 (0 right)."""
    predicted, true = _row([0.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0])
    assert accuracy(predicted, true, 1.0, source_size=(1, 4)) == 0.75
    assert accuracy(predicted, true, 1.0, source_size=(1, 3)) == pytest.approx(2 / 3)
    assert accuracy(predicted, true, 1.0, source_size=(1, 1)) == 0.0


def test_only_true_matches_inside_a_tall_source_count():
    """The same along y: a 4 x 1 target, true matches at y = 0..3, the prediction 2 px off at
    y = 0. A 4 x 1 source holds all four; a 3 x 1 source three."""
    predicted = torch.zeros(1, 2, 4, 1, dtype=torch.float64)
    true = torch.zeros_like(predicted)
    predicted[0, 1, 0, 0] = 2.0
    assert accuracy(predicted, true, 1.0, source_size=(4, 1)) == 0.75
    assert accuracy(predicted, true, 1.0, source_size=(3, 1)) == pytest.approx(2 / 3)


def test_the_source_edges_are_half_a_pixel_beyond_the_outer_centres():
    """Target pixels x = 0..3 with true matches at -0.4 (inside a 1 x 3 source), -0.6
    (outside), 2.4 (inside) and 2.6 (outside); the prediction is 4.6 px off at x = 2 and right
    elsewhere. Counted: x = 0 (right) and x = 2 (wrong)."""
    predicted, true = _row([-0.4, -1.6, 0.4, -0.4], [-0.4, -1.6, 5.0, -0.4])
    assert accuracy(predicted, true, 1.0) == 0.75
    assert accuracy(predicted, true, 1.0, source_size=(1, 3)) == 0.5
    predicted, true = _row([5.0, 5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0])
    # true matches at x = 5..8: none inside the 1 x 3 source, nothing to count
    assert math.isnan(accuracy(predicted, true, 1.0, source_size=(1, 3)))
