# SPDX-License-Identifier: MIT
"""Notebook 8's exercises accept right answers written by a different route (Python floats and
loops, the log-sum-exp written out; the triangular bins evaluated one by one) on every
instance."""

from __future__ import annotations

import math

import torch

from gocor_lite.exercises import learning
from tests.by_hand import assert_right_answers_pass


def _cross_entropy_by_loops(scores, candidates, matches, temperature, sigma):
    total = 0.0
    for row, match in zip(scores.tolist(), matches.tolist(), strict=True):
        logits = [score / temperature for score in row]
        top = max(logits)
        log_norm = top + math.log(sum(math.exp(value - top) for value in logits))
        goal = [
            math.exp(-((x - match[0]) ** 2 + (y - match[1]) ** 2) / (2 * sigma**2))
            for x, y in candidates.tolist()
        ]
        goal_sum = sum(goal)
        total += -sum(
            q / goal_sum * (value - log_norm) for q, value in zip(goal, logits, strict=True)
        )
    return total / len(matches)


def _label_by_loops(distance, coefficients, bin_width):
    count = len(coefficients)
    out = []
    for d in distance.tolist():
        value = 0.0
        for k, a in enumerate(coefficients.tolist()):
            position = d / bin_width
            saturated = k == count - 1 and position >= k  # the last bin stays at 1
            weight = 1.0 if saturated else max(0.0, 1.0 - abs(position - k))
            value += a * weight
        out.append(value)
    return torch.tensor(out, dtype=torch.float64)


RIGHT = {
    "the matching loss": _cross_entropy_by_loops,
    "the label from its bins": _label_by_loops,
}


def test_right_answers_pass():
    assert_right_answers_pass(learning.EXERCISES, RIGHT)


def test_every_match_is_reachable():
    """The instances keep every cell in the loss (a match within 2 sigma of a candidate), so
    a mean over the cells is what the library computes."""
    for instance in learning.EXERCISES["the matching loss"].instances():
        _, candidates, matches = instance.arguments
        sigma = instance.keywords["sigma"]
        distances = torch.cdist(matches, candidates)
        assert bool((distances.min(1).values <= 2 * sigma).all())
