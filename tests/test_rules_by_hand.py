# SPDX-License-Identifier: MIT
"""Matching rules read back by hand: every rule's matches, acceptances and confidence against
its documented definition (``gocor_lite.reading.rules.read_rule``) by plain loops on a random
volume; whole-image scores (``gocor_lite.evaluation.rule_scores.score_rules``) against a hand count;
and the matches CSV (``gocor_lite.files.export``) column by column against cell centres written out.

Convention: volumes ``[b, target_y, target_x, source_y, source_x]``; cell ``i`` of stride ``s``
is centred on pixel ``(i + 0.5) s - 0.5`` (``gocor_lite.core.grid``); ties go to the first cell in
row-major order.
"""

from __future__ import annotations

import csv
import itertools
import math

import numpy as np
import pytest
import torch

from gocor_lite.evaluation.rule_scores import score_rules
from gocor_lite.files.export import read_matches_csv, rule_matches, write_matches_csv
from gocor_lite.reading.rules import RULES, RuleResult, RuleSettings, read_rule

SETTINGS = RuleSettings()
EPS = 1e-6  # peak_ratio's documented clamp


# -- references, one target cell at a time --------------------------------------------------------


def first_argmax(scores: np.ndarray) -> tuple[int, int]:
    """``(x, y)`` of the highest entry of a ``(h', w')`` map, the first in row-major order."""
    best, where = -math.inf, (0, 0)
    for y, x in itertools.product(range(scores.shape[0]), range(scores.shape[1])):
        if scores[y, x] > best:
            best, where = scores[y, x], (x, y)
    return where


def loop_peak_ratio(scores: np.ndarray, radius: int) -> float:
    """Best score over the best one more than ``radius`` cells (Chebyshev) from it, both
    clamped below at ``EPS``; no such cell: ``EPS``."""
    bx, by = first_argmax(scores)
    second = -math.inf
    for y, x in itertools.product(range(scores.shape[0]), range(scores.shape[1])):
        if max(abs(x - bx), abs(y - by)) > radius:
            second = max(second, scores[y, x])
    return max(scores[by, bx], EPS) / max(second, EPS)


def softmax_map(scores: np.ndarray, temperature: float) -> np.ndarray:
    weights = np.exp((scores - scores.max()) / temperature)
    return weights / weights.sum()


def loop_sinkhorn(volume: np.ndarray, dustbin: float, temperature: float, iterations: int):
    """SuperGlue's log-domain Sinkhorn with one dustbin row and column, for one pair
    ``(h, w, h', w')``: target cells' maps ``(h, w, h', w')`` and dustbin shares ``(h, w)``."""
    height, width, source_height, source_width = volume.shape
    rows, columns = height * width, source_height * source_width
    z = np.full((rows + 1, columns + 1), dustbin / temperature)
    z[:rows, :columns] = volume.reshape(rows, columns) / temperature
    log_rows = np.zeros(rows + 1)
    log_rows[rows] = math.log(columns)
    log_columns = np.zeros(columns + 1)
    log_columns[columns] = math.log(rows)

    def logsumexp(values: np.ndarray) -> float:
        top = values.max()
        return top + math.log(np.exp(values - top).sum())

    u, v = np.zeros(rows + 1), np.zeros(columns + 1)
    for _ in range(iterations):
        u = np.array([log_rows[i] - logsumexp(z[i] + v) for i in range(rows + 1)])
        v = np.array([log_columns[j] - logsumexp(z[:, j] + u) for j in range(columns + 1)])
    plan = np.exp(z + u[:, None] + v[None, :])
    return (
        plan[:rows, :columns].reshape(volume.shape),
        plan[:rows, columns].reshape(height, width),
    )


def loop_rule(name: str, volume: np.ndarray):
    """``(matches (2, h, w), accepted (h, w), confidence (h, w))`` of one pair, by the
    definitions of ``read_rule``'s docstring."""
    height, width, source_height, source_width = volume.shape
    matches = np.zeros((2, height, width))
    accepted = np.ones((height, width), dtype=bool)
    confidence = np.zeros((height, width))
    temperature = SETTINGS.temperature
    cells = list(itertools.product(range(height), range(width)))
    if name == "dual-softmax":  # P(j | i) P(i | j): softmax over the source, then the target
        over_target = np.zeros_like(volume)
        for sy, sx in itertools.product(range(source_height), range(source_width)):
            over_target[:, :, sy, sx] = softmax_map(volume[:, :, sy, sx], temperature)
    if name == "cyclic":
        clamped = np.maximum(volume, 0.0)
    if name == "sinkhorn":
        plan, dustbin = loop_sinkhorn(
            volume, SETTINGS.dustbin_score, temperature, SETTINGS.sinkhorn_iterations
        )
    for y, x in cells:
        scores = volume[y, x]
        if name == "argmax":
            matches[:, y, x] = first_argmax(scores)
            confidence[y, x] = loop_peak_ratio(scores, SETTINGS.exclusion_radius)
        elif name == "soft-argmax":
            probability = softmax_map(scores, temperature)
            expected_x = sum(
                probability[sy, sx] * sx
                for sy, sx in itertools.product(range(source_height), range(source_width))
            )
            expected_y = sum(
                probability[sy, sx] * sy
                for sy, sx in itertools.product(range(source_height), range(source_width))
            )
            matches[:, y, x] = (expected_x, expected_y)
            mx, my = first_argmax(probability)
            r = SETTINGS.mass_radius
            confidence[y, x] = sum(
                probability[sy, sx]
                for sy, sx in itertools.product(range(source_height), range(source_width))
                if max(abs(sx - mx), abs(sy - my)) <= r
            )
        elif name == "softmax":
            probability = softmax_map(scores, temperature)
            mx, my = first_argmax(probability)
            matches[:, y, x] = (mx, my)
            confidence[y, x] = probability[my, mx]
        elif name == "dual-softmax":
            product = softmax_map(scores, temperature) * over_target[y, x]
            mx, my = first_argmax(product)
            matches[:, y, x] = (mx, my)
            confidence[y, x] = product[my, mx]
        elif name == "mutual":
            mx, my = first_argmax(scores)
            matches[:, y, x] = (mx, my)
            back_x, back_y = first_argmax(volume[:, :, my, mx])  # the source cell's best target
            accepted[y, x] = (back_x, back_y) == (x, y)
            # The peak ratio where mutual, the lowest confidence (0) where refused.
            ratio = loop_peak_ratio(scores, SETTINGS.exclusion_radius)
            confidence[y, x] = ratio if accepted[y, x] else 0.0
        elif name == "cyclic":
            best_target = clamped[y, x].max()
            filtered = np.zeros_like(scores)
            for sy, sx in itertools.product(range(source_height), range(source_width)):
                value = clamped[y, x, sy, sx]
                best_source = clamped[:, :, sy, sx].max()
                filtered[sy, sx] = (
                    value * (value / (best_source + 1e-5)) * (value / (best_target + 1e-5))
                )
            mx, my = first_argmax(filtered)
            matches[:, y, x] = (mx, my)
            confidence[y, x] = filtered[my, mx]
        elif name == "sinkhorn":
            mx, my = first_argmax(plan[y, x])
            matches[:, y, x] = (mx, my)
            mass = plan[y, x, my, mx]
            accepted[y, x] = mass > dustbin[y, x]
            confidence[y, x] = mass if accepted[y, x] else 0.0
    return matches, accepted, confidence


@pytest.fixture(scope="module")
def volume() -> torch.Tensor:
    """Random cosines ``(2, 4, 5, 3, 6)`` (target and source grids of different shapes), with
    a few target cells made to share a favourite source cell, so that mutual nearest
    neighbours refuse some cells and accept others, and Sinkhorn's dustbin wins somewhere."""
    generator = torch.Generator().manual_seed(11)
    volume = 2 * torch.rand(2, 4, 5, 3, 6, generator=generator, dtype=torch.float64) - 1
    volume[:, 0:2, 0:3, 1, 2] = 0.95  # six target cells all pick source cell (2, 1)
    volume[:, 0, 0, 1, 2] = 0.99  # ... which picks target cell (0, 0) back
    return volume


@pytest.mark.parametrize("name", RULES)
def test_every_rule_by_its_definition_on_a_random_volume(volume, name):
    result = read_rule(name, volume, SETTINGS)
    for b in range(volume.shape[0]):
        matches, accepted, confidence = loop_rule(name, volume[b].numpy())
        np.testing.assert_allclose(result.matches[b].numpy(), matches, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(result.accepted[b].numpy(), accepted)
        tolerance = 1e-6 if name == "sinkhorn" else 1e-9  # Sinkhorn: convergence, not rounding
        np.testing.assert_allclose(result.confidence[b].numpy(), confidence, rtol=tolerance)


@pytest.mark.parametrize("name", ["mutual", "sinkhorn"])
def test_refused_cells_rank_below_every_accepted_cell(volume, name):
    """RuleResult's documented ranking: refused cells get the rule's lowest confidence."""
    result = read_rule(name, volume, SETTINGS)
    refused, accepted = ~result.accepted, result.accepted
    assert bool(refused.any()) and bool(accepted.any())  # the volume exercises both
    assert float(result.confidence[refused].max()) < float(result.confidence[accepted].min())


# -- whole-image scores ----------------------------------------------------------------------------


def test_score_rules_counts_a_refused_match_near_the_truth_as_a_miss():
    # One pair, a 1 x 4 target grid, stride 8; source cell centres: (i + 0.5) 8 - 0.5.
    #   cell 0: match (0, 0) -> pixel (3.5, 3.5), truth (5.5, 3.5): 2 px, accepted: right
    #   cell 1: match (1, 0) -> (11.5, 3.5), truth (12.5, 6.5): 3.16 px, REFUSED: a miss
    #   cell 2: match (2, 0) -> (19.5, 3.5), truth (39.5, 3.5): 20 px, accepted: wrong
    #   cell 3: match (3, 0) -> (27.5, 3.5), truth unknown: not counted
    matches = torch.tensor([[[[0.0, 1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0, 0.0]]]])
    truth = torch.tensor([[[[5.5, 12.5, 39.5, 0.0]], [[3.5, 6.5, 3.5, 0.0]]]])
    known = torch.tensor([[[True, True, True, False]]])
    accepted = torch.tensor([[[True, False, True, True]]])
    result = RuleResult("r", torch.zeros(1, 1, 4, 1, 4), matches, accepted, torch.zeros(1, 1, 4))
    score = score_rules({"r": result}, truth, known, stride=8)["r"]
    counted, right, taken = 3, 1, 2  # by hand, above
    assert score.count == counted
    assert score.pck_cell == pytest.approx(100 * right / counted)
    assert score.accepted == pytest.approx(100 * taken / counted)
    assert score.precision == pytest.approx(100 * right / taken)
    assert score.aepe == pytest.approx((2.0 + 20.0) / 2)


# -- the matches CSV -------------------------------------------------------------------------------


def test_matches_csv_columns_are_the_cell_centres_written_by_hand(tmp_path):
    # A 2 x 3 target grid (h = 2 rows, w = 3 columns) of stride 8, a source of stride 4.
    # Target centres: x in (3.5, 11.5, 19.5), y in (3.5, 11.5). Source cell (x, y) -> pixel
    # ((x + 0.5) 4 - 0.5, (y + 0.5) 4 - 0.5). Matches have x != y.
    source_cells = [[(5, 1), (0, 7), (2, 3)], [(9, 4), (1, 0), (6, 2)]]  # [row][column] = (x, y)
    matches = torch.tensor(
        [[[[cell[axis] for cell in row] for row in source_cells] for axis in (0, 1)]],
        dtype=torch.float64,
    )
    accepted = torch.tensor([[[True, False, True], [True, True, False]]])
    confidence = torch.tensor([[[0.9, 0.0, 0.5], [0.25, 0.75, 0.0]]], dtype=torch.float64)
    result = RuleResult("r", torch.zeros(1, 2, 3, 8, 10), matches, accepted, confidence)
    everything = [  # target_x, target_y, source_x, source_y, confidence; target cells row-major
        (3.5, 3.5, 21.5, 5.5, 0.9),  # cell (0, 0) -> source (5, 1)
        (11.5, 3.5, 1.5, 29.5, 0.0),  # cell (1, 0) -> source (0, 7), refused
        (19.5, 3.5, 9.5, 13.5, 0.5),  # cell (2, 0) -> source (2, 3)
        (3.5, 11.5, 37.5, 17.5, 0.25),  # cell (0, 1) -> source (9, 4)
        (11.5, 11.5, 5.5, 1.5, 0.75),  # cell (1, 1) -> source (1, 0)
        (19.5, 11.5, 25.5, 9.5, 0.0),  # cell (2, 1) -> source (6, 2), refused
    ]
    kept = [everything[index] for index in (0, 2, 3, 4)]
    np.testing.assert_array_equal(rule_matches(result, 8, 4, accepted_only=False), everything)
    rows = rule_matches(result, 8, 4)
    np.testing.assert_array_equal(rows, kept)
    # One stride for both images: the source columns at stride 8.
    same = rule_matches(result, 8)
    np.testing.assert_array_equal(
        same[:, 2:4], [[43.5, 11.5], [19.5, 27.5], [75.5, 35.5], [11.5, 3.5]]
    )
    np.testing.assert_array_equal(same[:, :2], [row[:2] for row in kept])
    # The file, read with the csv module: the header, then the same numbers column by column.
    path = tmp_path / "matches.csv"
    write_matches_csv(path, rows)
    with open(path, newline="") as file:
        lines = list(csv.reader(file))
    assert lines[0] == ["target_x", "target_y", "source_x", "source_y", "confidence"]
    assert [[float(value) for value in line] for line in lines[1:]] == [list(row) for row in kept]
    np.testing.assert_array_equal(read_matches_csv(path), kept)
