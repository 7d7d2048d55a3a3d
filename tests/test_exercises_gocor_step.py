# SPDX-License-Identifier: MIT
"""Notebooks 5 and 6's exercises accept right answers written by a different route (loops over the
scores and the cells, the activation's two cases written out) on every instance."""

from __future__ import annotations

import torch

from gocor_lite.exercises import gocor_step
from tests.by_hand import assert_right_answers_pass


def _activation_by_cases(scores, slope):
    slopes = torch.broadcast_to(torch.as_tensor(slope, dtype=scores.dtype), scores.shape)
    out = torch.empty_like(scores)
    for k, (score, m) in enumerate(zip(scores.tolist(), slopes.tolist(), strict=True)):
        out[k] = score if score >= 0 else m * score
    return out


def _step_length_by_loops(gradient, features, scores, weight, slope, lam):
    channels, cells = features.shape
    g = gradient.tolist()
    energy = sum(value * value for value in g)
    curvature = 0.0
    for j in range(cells):
        derivative = float(weight[j]) * (1.0 if float(scores[j]) > 0 else float(slope[j]))
        inner = sum(g[c] * float(features[c, j]) for c in range(channels))
        curvature += (derivative * inner) ** 2
    return energy / (curvature + lam * energy)


RIGHT = {
    "the activation": _activation_by_cases,
    "the step length": _step_length_by_loops,
}


def test_right_answers_pass():
    assert_right_answers_pass(gocor_step.EXERCISES, RIGHT)


def test_the_regulariser_matters_on_an_instance():
    """Dropping ``lambda |g|^2`` must change ``alpha`` by far more than the tolerance on at
    least one instance (at the paper's ``lambda`` it barely does)."""
    changes = []
    for instance in gocor_step.EXERCISES["the step length"].instances():
        *rest, lam = instance.arguments
        changes.append(_step_length_by_loops(*rest, 0.0) / _step_length_by_loops(*rest, lam) - 1)
    assert max(changes) > 0.1
