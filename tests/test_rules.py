# SPDX-License-Identifier: MIT
"""Matching rules and confidences against naive references: loops over cells, the definitions
written out, Sinkhorn's marginals and a plain (not log-domain) Sinkhorn, hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from gocor_lite import GlobalGOCor
from gocor_lite.evaluation.rule_scores import score_rules, sparsification
from gocor_lite.reading.confidence import (
    backward_best_cells,
    best_cells,
    cycle_error,
    flow_cycle_error,
    mass_within,
    peak_ratio,
)
from gocor_lite.reading.matching import soft_argmax
from gocor_lite.reading.rules import (
    RULES,
    RuleResult,
    RuleSettings,
    cyclic_consistency,
    dual_softmax,
    match_with_rules,
    mutual_nearest_neighbours,
    read_rule,
    read_rules,
    rule_maps,
    sinkhorn,
    sinkhorn_assignment,
    softmax_probability,
)


def random_volume(generator, shape=(2, 3, 4, 5, 3)):
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def cells(height, width):
    return itertools.product(range(height), range(width))


# -- the rules ------------------------------------------------------------------------------------


def test_soft_argmax_by_hand_on_a_tiny_volume():
    # One target cell, a 1 x 3 source: scores T log(1, 1, 2) give weights 1/4, 1/4, 1/2.
    temperature = 0.1
    volume = temperature * torch.log(torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64))
    volume = volume.view(1, 1, 1, 1, 3)
    match = soft_argmax(volume, temperature)
    # x = 0 * 1/4 + 1 * 1/4 + 2 * 1/2 = 1.25, y = 0.
    torch.testing.assert_close(match.flatten(), torch.tensor([1.25, 0.0], dtype=torch.float64))
    result = read_rule("soft-argmax", volume, RuleSettings(temperature=temperature, mass_radius=0))
    torch.testing.assert_close(result.matches, match)
    torch.testing.assert_close(
        result.scores.flatten(), torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64)
    )
    # Its confidence: the mass on the mode alone (radius 0) is 1/2.
    assert float(result.confidence) == pytest.approx(0.5)


def test_softmax_probability_sums_to_one_per_target_cell(generator):
    volume = random_volume(generator)
    probability = softmax_probability(volume, 0.3)
    torch.testing.assert_close(probability.sum(dim=(3, 4)), torch.ones(2, 3, 4, dtype=volume.dtype))
    b, i, j, k, m = 1, 2, 3, 4, 1
    expected = math.exp(volume[b, i, j, k, m] / 0.3) / float((volume[b, i, j] / 0.3).exp().sum())
    assert float(probability[b, i, j, k, m]) == pytest.approx(expected)


def test_dual_softmax_by_its_definition(generator):
    volume = random_volume(generator)
    temperature = 0.5
    out = dual_softmax(volume, temperature)
    batch, height, width, source_height, source_width = volume.shape
    expected = torch.empty_like(volume)
    exp = (volume / temperature).exp()
    for b in range(batch):
        for (ty, tx), (sy, sx) in itertools.product(
            cells(height, width), cells(source_height, source_width)
        ):
            over_source = exp[b, ty, tx, sy, sx] / exp[b, ty, tx].sum()
            over_target = exp[b, ty, tx, sy, sx] / exp[b, :, :, sy, sx].sum()
            expected[b, ty, tx, sy, sx] = over_source * over_target
    torch.testing.assert_close(out, expected)


def test_mutual_nearest_neighbours_by_loops(generator):
    volume = random_volume(generator, (3, 4, 5, 4, 6))
    out = mutual_nearest_neighbours(volume)
    batch, height, width, source_height, source_width = volume.shape
    for b in range(batch):
        for ty, tx in cells(height, width):
            best_source = max(
                cells(source_height, source_width),
                key=lambda s: float(volume[b, ty, tx, s[0], s[1]]),
            )
            best_target = max(
                cells(height, width),
                key=lambda t: float(volume[b, t[0], t[1], best_source[0], best_source[1]]),
            )
            assert bool(out[b, ty, tx]) == (best_target == (ty, tx)), (b, ty, tx)
    assert out.any() and not out.all()  # the random case has both kinds


def test_cyclic_consistency_by_a_loop(generator):
    volume = random_volume(generator).abs()  # GLU-Net's scores are non-negative
    out = cyclic_consistency(volume)
    batch, height, width, source_height, source_width = volume.shape
    for b in range(batch):
        for (ty, tx), (sy, sx) in itertools.product(
            cells(height, width), cells(source_height, source_width)
        ):
            c = float(volume[b, ty, tx, sy, sx])
            max_over_target = max(float(volume[b, y, x, sy, sx]) for y, x in cells(height, width))
            max_over_source = max(
                float(volume[b, ty, tx, y, x]) for y, x in cells(source_height, source_width)
            )
            expected = c * (c / (max_over_target + 1e-5)) * (c / (max_over_source + 1e-5))
            assert float(out[b, ty, tx, sy, sx]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dustbin_score", [-0.5, 0.3, 2.0])
def test_sinkhorn_meets_its_marginals_dustbins_included(generator, dustbin_score):
    volume = random_volume(generator, (2, 3, 4, 2, 5))
    plan = sinkhorn(volume, dustbin_score, temperature=0.5, iterations=500).exp()
    rows, columns = 3 * 4, 2 * 5
    assert plan.shape == (2, rows + 1, columns + 1)
    row_mass = torch.ones(rows + 1, dtype=volume.dtype)
    row_mass[-1] = columns  # the target dustbin can absorb every source cell
    column_mass = torch.ones(columns + 1, dtype=volume.dtype)
    column_mass[-1] = rows
    torch.testing.assert_close(plan.sum(2), row_mass.expand(2, -1), atol=1e-9, rtol=0)
    torch.testing.assert_close(plan.sum(1), column_mass.expand(2, -1), atol=1e-9, rtol=0)
    cells_mass, dustbin = sinkhorn_assignment(volume, dustbin_score, 0.5, 500)
    torch.testing.assert_close(
        cells_mass.sum(dim=(3, 4)) + dustbin, torch.ones(2, 3, 4, dtype=volume.dtype)
    )


def test_sinkhorn_at_a_tiny_temperature_stays_finite(generator):
    """Couplings spanning thousands (T = 1e-3) underflow exp even in float64: the direct
    log-sum-exp takes over, the plan stays finite and the column masses hold."""
    volume = random_volume(generator, (1, 3, 3, 3, 3))
    plan = sinkhorn(volume, 0.0, temperature=1e-3, iterations=20)
    assert torch.isfinite(plan).all()
    column_mass = torch.ones(10, dtype=volume.dtype)
    column_mass[-1] = 9
    torch.testing.assert_close(plan.exp().sum(1)[0], column_mass)


def test_sinkhorn_equals_plain_matrix_scaling(generator):
    """The log-domain iterations against the textbook Sinkhorn-Knopp scaling of exp(couplings)
    (safe at this temperature), the same number of iterations, rows first."""
    volume = random_volume(generator, (1, 2, 3, 3, 2))
    temperature, dustbin_score, iterations = 0.7, 0.2, 7
    ours = sinkhorn(volume, dustbin_score, temperature, iterations).exp()[0]
    rows, columns = 6, 6
    couplings = np.full((rows + 1, columns + 1), dustbin_score / temperature)
    couplings[:rows, :columns] = volume.reshape(rows, columns).numpy() / temperature
    kernel = np.exp(couplings)
    a = np.array([1.0] * rows + [columns])
    b = np.array([1.0] * columns + [rows])
    column_scale = np.ones(columns + 1)
    for _ in range(iterations):
        row_scale = a / (kernel @ column_scale)
        column_scale = b / (kernel.T @ row_scale)
    expected = row_scale[:, None] * kernel * column_scale[None, :]
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10)


def test_sinkhorn_refuses_a_cell_without_a_counterpart():
    # Two target cells, two source cells: cell 0 matches source 0 clearly; cell 1 looks like
    # nothing (every score far below the dustbin's): Sinkhorn sends it to the dustbin.
    volume = torch.tensor([[0.9, -0.5], [-0.6, -0.7]], dtype=torch.float64).view(1, 1, 2, 1, 2)
    result = read_rule("sinkhorn", volume, RuleSettings(temperature=0.1, dustbin_score=0.3))
    assert result.accepted.tolist() == [[[True, False]]]
    assert result.matches[0, :, 0, 0].tolist() == [0.0, 0.0]
    assert float(result.confidence[0, 0, 1]) == 0.0  # refused: the lowest confidence
    argmax = read_rule("argmax", volume)
    assert argmax.accepted.all()


def test_every_rule_reads_a_clear_shift(generator):
    """Unit features and a shifted copy: every rule finds the shift (GOCor included)."""
    features = torch.randn(1, 48, 5, 6, generator=generator, dtype=torch.float64)
    features = features / features.norm(dim=1, keepdim=True)
    source = torch.roll(features, shifts=(1, 2), dims=(2, 3))
    results = match_with_rules(features, source, gocor={"gocor": GlobalGOCor().double()})
    assert list(results) == [*RULES, "gocor"]
    xs = (torch.arange(6) + 2) % 6
    ys = (torch.arange(5) + 1) % 5
    expected = torch.stack([xs.view(1, 6).expand(5, 6), ys.view(5, 1).expand(5, 6)]).double()
    for name, result in results.items():
        assert result.scores.shape == (1, 5, 6, 5, 6), name
        assert result.confidence.shape == result.accepted.shape == (1, 5, 6), name
        atol = 0.1 if name == "soft-argmax" else 0.0
        torch.testing.assert_close(result.matches[0], expected, atol=atol, rtol=0, msg=name)
        assert result.accepted.all(), name
    maps = rule_maps(results, (3, 2))
    torch.testing.assert_close(maps["argmax"], results["argmax"].scores[0, 2, 3])


def test_rules_refuse_bad_input(generator):
    volume = random_volume(generator)
    with pytest.raises(ValueError, match="unknown matching rule"):
        read_rule("nearest", volume)
    with pytest.raises(ValueError, match="global volume"):
        read_rules(volume[0])
    with pytest.raises(ValueError, match="temperature"):
        softmax_probability(volume, 0.0)
    with pytest.raises(ValueError, match="temperature"):
        dual_softmax(volume, float("nan"))
    with pytest.raises(ValueError, match="iterations"):
        sinkhorn(volume, iterations=0)
    features = torch.randn(1, 8, 3, 3, generator=generator)
    with pytest.raises(ValueError, match="already a rule"):
        match_with_rules(features, features, gocor={"argmax": GlobalGOCor()})


# -- confidences ----------------------------------------------------------------------------------


def test_peak_ratio_by_loops(generator):
    volume = random_volume(generator, (2, 3, 3, 4, 5)).abs() + 0.01
    for radius in (0, 1):
        out = peak_ratio(volume, exclusion_radius=radius)
        for b, (ty, tx) in itertools.product(range(2), cells(3, 3)):
            scores = {s: float(volume[b, ty, tx, s[0], s[1]]) for s in cells(4, 5)}
            best = max(scores, key=scores.get)
            second = max(
                value
                for (y, x), value in scores.items()
                if max(abs(y - best[0]), abs(x - best[1])) > radius
            )
            assert float(out[b, ty, tx]) == pytest.approx(scores[best] / second)


def test_peak_ratio_without_a_competitor_is_large_and_finite():
    volume = torch.tensor([0.8, -0.2, -0.1]).view(1, 1, 1, 1, 3)
    ratio = float(peak_ratio(volume, exclusion_radius=0, eps=1e-3))
    assert ratio == pytest.approx(800.0)  # 0.8 / eps: the second peak is negative


def test_mass_within_by_loops(generator):
    probability = softmax_probability(random_volume(generator, (1, 2, 3, 5, 5)), 0.5)
    out = mass_within(probability, radius=1)
    for ty, tx in cells(2, 3):
        scores = {s: float(probability[0, ty, tx, s[0], s[1]]) for s in cells(5, 5)}
        best = max(scores, key=scores.get)
        expected = sum(
            value
            for (y, x), value in scores.items()
            if abs(y - best[0]) <= 1 and abs(x - best[1]) <= 1
        )
        assert float(out[0, ty, tx]) == pytest.approx(expected)
    whole = mass_within(probability, radius=5)
    torch.testing.assert_close(whole, torch.ones_like(whole))


def test_cycle_error_by_loops(generator):
    volume = random_volume(generator, (2, 4, 3, 3, 5))
    out = cycle_error(volume)
    forward, backward = best_cells(volume), backward_best_cells(volume)
    assert forward.shape == (2, 2, 4, 3) and backward.shape == (2, 2, 3, 5)
    for b, (ty, tx) in itertools.product(range(2), cells(4, 3)):
        sy, sx = max(cells(3, 5), key=lambda s: float(volume[b, ty, tx, s[0], s[1]]))
        by, bx = max(cells(4, 3), key=lambda t: float(volume[b, t[0], t[1], sy, sx]))
        assert float(out[b, ty, tx]) == pytest.approx(math.hypot(bx - tx, by - ty))
    torch.testing.assert_close(mutual_nearest_neighbours(volume), out == 0)


def test_flow_cycle_error_of_a_shift_and_its_inverse():
    forward = torch.zeros(1, 2, 6, 8, dtype=torch.float64)
    forward[:, 0] = 2.0  # every target pixel looks two to the right
    backward = -forward
    error = flow_cycle_error(forward, backward)
    torch.testing.assert_close(error[0, :, :6], torch.zeros(6, 6, dtype=torch.float64))
    assert torch.isnan(error[0, :, 6:]).all()  # the match leaves the source
    backward[:, 1] = 0.5  # coming back half a pixel too low
    torch.testing.assert_close(
        flow_cycle_error(forward, backward)[0, :, :6], torch.full((6, 6), 0.5, dtype=torch.float64)
    )


# -- evaluation -----------------------------------------------------------------------------------


def test_sparsification_by_hand_and_with_ties():
    error = torch.tensor([0.0, 10.0, 0.0, 20.0])
    confidence = torch.tensor([4.0, 3.0, 2.0, 1.0])
    curve = sparsification(error, confidence, 8.0, np.array([0.25, 0.5, 0.75, 1.0]))
    np.testing.assert_allclose(curve.wrong, [0.0, 50.0, 100 / 3, 50.0])
    np.testing.assert_allclose(curve.oracle, [0.0, 0.0, 100 / 3, 50.0])
    assert curve.ause == pytest.approx(12.5)
    # Ties are averaged over every order of the tied matches, enumerated here.
    confidence = torch.tensor([1.0, 1.0, 1.0, 0.0])
    fractions = np.array([0.25, 0.5, 0.75, 1.0])
    curve = sparsification(error, confidence, 8.0, fractions)
    tied = [0, 1, 2]
    expected = np.zeros(4)
    orders = list(itertools.permutations(tied))
    for order in orders:
        ranked = [*order, 3]
        wrong = (error[ranked] >= 8.0).double().numpy()
        expected += 100 * np.cumsum(wrong) / np.arange(1, 5) / len(orders)
    np.testing.assert_allclose(curve.wrong, expected)


def test_score_rules_by_hand():
    # Two target cells, stride 4: cell 0 right (1 px off), cell 1 refused and 6 px off.
    matches = torch.tensor([[[[0.0, 1.0]], [[0.0, 0.0]]]])  # (1, 2, 1, 2): x then y
    truth = torch.tensor([[[[2.5, 11.5]], [[1.5, 1.5]]]])  # source pixels
    known = torch.tensor([[[True, True]]])
    result = RuleResult(
        "r",
        torch.zeros(1, 1, 2, 1, 2),
        matches,
        torch.tensor([[[True, False]]]),
        torch.zeros(1, 1, 2),
    )
    score = score_rules({"r": result}, truth, known, stride=4)["r"]
    # cell 0: centre (1.5, 1.5) vs (2.5, 1.5): 1 px, right; cell 1: (5.5, 1.5) vs (11.5, 1.5).
    assert (score.pck_cell, score.accepted, score.precision) == (50.0, 50.0, 100.0)
    assert score.aepe == pytest.approx(1.0)
    assert score.count == 2


def test_evaluate_rules_pools_pairs_as_score_rules_does(generator):
    """Two synthetic pairs evaluated together give the pooled per-pair counts of score_rules
    (every cell once), and the curves end at the overall error rate."""
    from gocor_lite.core.features import make_extractor, pair_features
    from gocor_lite.data.split import synthetic_pairs
    from gocor_lite.evaluation.rule_scores import evaluate_rules
    from gocor_lite.reading.supervision import true_matches

    extractor = make_extractor("learned")
    pairs = synthetic_pairs(["coins", "camera"], 2, (64, 80), seed=3)
    evaluation = evaluate_rules(extractor, {"tiny": pairs}, rules=("argmax", "mutual"))
    right = {"argmax": 0, "mutual": 0}
    count = 0
    for index in range(2):
        target, source = pair_features(
            extractor, pairs.target[index : index + 1], pairs.source[index : index + 1]
        )
        truth, known = true_matches(
            pairs.flow[index : index + 1], pairs.valid[index : index + 1], (8, 10), 8
        )
        results = match_with_rules(target, source, rules=("argmax", "mutual"))
        for name, score in score_rules(results, truth, known, 8).items():
            right[name] += round(score.pck_cell * score.count / 100)
        count += int(known.sum())
    for name in ("argmax", "mutual"):
        pooled = evaluation.scores["tiny"][name]
        assert pooled.count == count
        assert round(pooled.pck_cell * count / 100) == right[name]
        # With every match kept, a curve is the error rate of the matches themselves (a refused
        # match still has one: mutual's are the argmax's).
        curve = evaluation.curves["tiny"][name]
        assert curve.wrong[-1] == pytest.approx(100 - evaluation.scores["tiny"]["argmax"].pck_cell)
    assert set(evaluation.measures["tiny"]) == {"peak ratio", "mass within 1 cell", "cycle error"}


def test_calibration_figure_draws_every_set():
    from gocor_lite.evaluation.rule_scores import RuleScore, RulesEvaluation, Sparsification
    from gocor_lite.pictures.matching_rules import draw_calibration

    fractions = np.array([0.5, 1.0])
    curve = Sparsification(fractions, np.array([10.0, 20.0]), np.array([0.0, 20.0]))
    score = RuleScore(80.0, 100.0, 80.0, 3.0, 10)
    evaluation = RulesEvaluation(
        {"a": {"argmax": score}, "b": {"argmax": score}},
        {"a": {"argmax": curve}, "b": {"argmax": curve}},
        {"a": {"peak ratio": curve}, "b": {"peak ratio": curve}},
        8,
        RuleSettings(),
        1.0,
    )
    figure = draw_calibration(evaluation)
    assert len(figure.axes) == 4
    assert figure.axes[0].get_title().startswith("a:")


def test_central_cell():
    from gocor_lite.evaluation.rule_scores import central_cell

    mask = torch.zeros(5, 7, dtype=torch.bool)
    mask[0, 0] = mask[4, 6] = mask[1, 3] = True
    assert central_cell(mask) == (3, 1)  # (x, y): the one nearest the centre (3, 2)
    with pytest.raises(ValueError, match="at least one"):
        central_cell(torch.zeros(3, 3, dtype=torch.bool))


def test_corrected_pixel_is_right_for_gocor_and_wrong_for_correlation():
    from gocor_lite.core.features import make_extractor, pair_features
    from gocor_lite.data.examples import load_example
    from gocor_lite.evaluation.rule_scores import corrected_pixel, pair_truth
    from gocor_lite.files.images import to_tensor
    from gocor_lite.files.weights import gocor_module

    pair = load_example("brick-shift")  # repeated structure: correlation errs, GOCor fixes some
    extractor = make_extractor("learned")
    gocor, _ = gocor_module("global", "learned")
    pixel = corrected_pixel(pair, extractor, gocor)
    assert pixel is not None
    stride = extractor.stride
    x, y = round((pixel[0] + 0.5) / stride - 0.5), round((pixel[1] + 0.5) / stride - 0.5)
    target, source = pair_features(extractor, to_tensor(pair.target), to_tensor(pair.source))
    truth, known = pair_truth(pair.flow, (target.shape[2], target.shape[3]), stride)
    assert bool(known[0, y, x])
    # Correlation's best source cell, by a loop over the source cells.
    best, best_score = None, -float("inf")
    for sy in range(source.shape[2]):
        for sx in range(source.shape[3]):
            score = float((target[0, :, y, x] * source[0, :, sy, sx]).sum())
            if score > best_score:
                best, best_score = (sx, sy), score
    with torch.no_grad():
        volume = gocor(target, source)[0, y, x]  # (h', w')
    gy, gx = divmod(int(volume.flatten().argmax()), volume.shape[1])
    true_x, true_y = float(truth[0, 0, y, x]), float(truth[0, 1, y, x])

    def error(cell: tuple[int, int]) -> float:
        cx, cy = (cell[0] + 0.5) * stride - 0.5, (cell[1] + 0.5) * stride - 0.5
        return ((cx - true_x) ** 2 + (cy - true_y) ** 2) ** 0.5

    assert best is not None and error(best) > 2 * stride
    assert error((gx, gy)) < stride


def test_the_gallery_opens_on_a_real_pair_where_trained_gocor_beats_correlation():
    from gocor_lite.core.features import default_extractor_name, make_extractor
    from gocor_lite.data.examples import example_names, load_example
    from gocor_lite.data.real import REAL_PAIRS, real_pair_available
    from gocor_lite.evaluation.rule_scores import pair_rule_scores
    from gocor_lite.files.weights import gocor_module

    first = example_names()[0]
    if not real_pair_available("graffiti-1-3"):
        pytest.skip("opencv-doc is not installed: the gallery opens on a synthetic pair")
    assert first in REAL_PAIRS
    from explorer.pipeline import Settings
    from gocor_lite.data.pairs import resize_pair

    features = default_extractor_name()  # the explorer's
    gocor, trained = gocor_module("global", features)
    assert trained
    # At the explorer's default working resolution (the pair as it opens), not the original's
    # 800 px: GOCor's parameters were trained on 20x20-cell volumes and do not carry to 100x80.
    pair = resize_pair(load_example(first), Settings().working_size)
    scores = pair_rule_scores(
        pair, make_extractor(features), gocor={"gocor": gocor}, rules=("argmax",)
    )
    assert scores["gocor"].pck_cell > scores["argmax"].pck_cell
