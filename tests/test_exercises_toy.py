# SPDX-License-Identifier: MIT
"""Notebook 0's exercises accept right answers written by a different route (loops over
channels and positions, not the library's matrix products) on every instance."""

from __future__ import annotations

import torch

from gocor_lite.exercises import toy
from tests.by_hand import assert_right_answers_pass


def _curve_by_loops(target_features, source_features, position):
    channels, _ = target_features.shape
    _, source_length = source_features.shape
    return torch.tensor(
        [
            sum(
                float(target_features[c, position]) * float(source_features[c, j])
                for c in range(channels)
            )
            for j in range(source_length)
        ],
        dtype=torch.float64,
    )


def _step_length_by_loops(gradient, target_features, weight, reg_weight):
    channels, length = target_features.shape
    energy = sum(float(gradient[c]) ** 2 for c in range(channels))
    curvature = 0.0
    for j in range(length):
        along = sum(float(gradient[c]) * float(target_features[c, j]) for c in range(channels))
        curvature += (float(weight[j]) * along) ** 2
    return energy / max(curvature + reg_weight * energy, 1e-8)


RIGHT = {
    "the 1-D score curve": _curve_by_loops,
    "the 1-D step length": _step_length_by_loops,
}


def test_right_answers_pass():
    assert_right_answers_pass(toy.EXERCISES, RIGHT)
