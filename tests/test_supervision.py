# SPDX-License-Identifier: MIT
"""Reading volumes against a known flow: true matches, the local set-up, the loss."""

from __future__ import annotations

import math

import pytest
import torch

from gocor_lite import local_correlation
from gocor_lite.reading.supervision import (
    global_candidates,
    global_matches,
    local_problem,
    match_loss,
    true_matches,
)


def test_true_matches_of_a_constant_flow_at_the_cell_centres():
    flow = torch.zeros(1, 2, 16, 24, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = 2.0, -1.0
    valid = torch.ones(1, 1, 16, 24, dtype=torch.bool)
    valid[..., :, 20:] = False  # pixels 20.. unknown: the last cell (centre 19.5) touches 20
    matches, known = true_matches(flow, valid, (2, 3), stride=8)
    # Cell (row i, column j) of stride 8 is centred on pixel (8 j + 3.5, 8 i + 3.5).
    assert matches[0, :, 1, 2].tolist() == [8 * 2 + 3.5 + 2.0, 8 * 1 + 3.5 - 1.0]
    assert matches[0, :, 0, 0].tolist() == [5.5, 2.5]
    assert known[0].tolist() == [[True, True, False], [True, True, False]]


def test_global_matches_read_the_peak_cell_centre():
    volume = torch.zeros(1, 2, 2, 3, 4, dtype=torch.float64)
    volume[..., 1, 2] = 1.0  # every target cell peaks at source cell (x=2, y=1)
    matches = global_matches(volume, stride=8)
    assert matches[0, :, 0, 0].tolist() == [19.5, 11.5]
    candidates = global_candidates((3, 4), 8, like=volume)
    assert candidates.shape == (1, 1, 1, 12, 2)
    assert candidates[0, 0, 0, 1 * 4 + 2].tolist() == [19.5, 11.5]  # row-major entries


def test_local_problem_without_a_coarse_flow_is_the_plain_local_correlation():
    generator = torch.Generator().manual_seed(0)
    target = torch.randn(1, 5, 4, 6, generator=generator, dtype=torch.float64)
    source = torch.randn(1, 5, 4, 6, generator=generator, dtype=torch.float64)
    problem = local_problem(source, torch.zeros(1, 2, 32, 48, dtype=torch.float64), 8, 1)
    torch.testing.assert_close(problem.source, source)  # sampled exactly at the centres
    volume = problem.correlation(target)
    torch.testing.assert_close(volume, local_correlation(target, source, 1, reduction="sum"))
    peaked = torch.zeros(1, 4, 6, 3, 3, dtype=torch.float64)
    peaked[..., 1, 2] = 1.0  # dy = 0, dx = +1 everywhere
    matches = problem.matches(peaked)
    assert matches[0, :, 2, 3].tolist() == [8 * 4 + 3.5, 8 * 2 + 3.5]  # one cell to the right


def test_local_candidates_follow_a_coarse_shift():
    coarse = torch.zeros(1, 2, 32, 48, dtype=torch.float64)
    coarse[:, 0] = 5.0  # the coarse flow looks 5 px to the right
    problem = local_problem(torch.zeros(1, 3, 4, 6, dtype=torch.float64), coarse, 8, 1)
    # Window entry (dy, dx) = (-1, 0) of cell (row 2, col 3) stands for the coarse match of
    # cell (row 1, col 3): pixel (27.5 + 5, 11.5).
    assert problem.candidates[0, 2, 3, 0 * 3 + 1].tolist() == [32.5, 11.5]


def test_match_loss_is_the_hand_computed_cross_entropy():
    scores = torch.tensor([[[[0.2, 0.5]]]], dtype=torch.float64)  # (1, 1, 1, 2)
    candidates = torch.tensor([[0.0, 0.0], [4.0, 0.0]], dtype=torch.float64)
    matches = torch.tensor([1.0, 0.0], dtype=torch.float64).view(1, 2, 1, 1)
    known = torch.ones(1, 1, 1, dtype=torch.bool)
    loss = match_loss(scores, candidates, matches, known, temperature=0.1, sigma=2.0)
    # Target: exp(-1/8) and exp(-9/8), normalised; log-softmax of (2, 5).
    t0, t1 = math.exp(-1 / 8), math.exp(-9 / 8)
    t0, t1 = t0 / (t0 + t1), t1 / (t0 + t1)
    log_z = math.log(math.exp(2.0) + math.exp(5.0))
    expected = -(t0 * (2.0 - log_z) + t1 * (5.0 - log_z))
    assert float(loss) == pytest.approx(expected, rel=1e-12)
    far = torch.tensor([50.0, 0.0], dtype=torch.float64).view(1, 2, 1, 1)  # nothing near it
    assert float(match_loss(scores, candidates, far, known, 0.1, 2.0)) == 0.0
