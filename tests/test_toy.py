# SPDX-License-Identifier: MIT
"""The 1-D toy (gocor_lite.core.toy) against slow obvious versions: loops for the features, the
correlation and the peak ratio, finite differences for the gradient, an exact least-squares
solve and an exact line search for the linear case, and the library's GlobalGOCor on a
``1 x L`` feature map for one whole step."""

from __future__ import annotations

import math

import pytest
import torch

from gocor_lite.core.toy import (
    correlation_1d,
    gocor_step_1d,
    gradient_1d,
    initial_filters_1d,
    objective_1d,
    peak_ratio_1d,
    score_curve,
    second_peak_1d,
    toy_objective,
    toy_signals,
    window_features,
)
from gocor_lite.gocor.modules import GlobalGOCor


def _random(seed, *size):
    return torch.randn(*size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _features(seed, channels, length):
    features = _random(seed, channels, length)
    return features / features.norm(dim=0, keepdim=True)


def test_window_features_match_a_loop():
    signal = _random(0, 13)
    signal[4:7] = 0.01  # a nearly flat stretch: below the contrast floor
    half_width, floor = 2, 0.5
    features = window_features(signal, half_width, floor)
    assert features.shape == (5, 13)
    for position in range(13):
        window = [
            float(signal[p]) if 0 <= p < 13 else 0.0
            for p in range(position - half_width, position + half_width + 1)
        ]
        mean = sum(window) / len(window)
        centred = [value - mean for value in window]
        norm = max(math.sqrt(sum(value * value for value in centred)), floor)
        expected = torch.tensor([value / norm for value in centred], dtype=torch.float64)
        torch.testing.assert_close(features[:, position], expected)


def test_correlation_and_score_curve_match_a_loop():
    target, source = _random(1, 4, 6), _random(2, 4, 9)
    volume = correlation_1d(target, source)
    for i in range(6):
        for j in range(9):
            expected = sum(float(target[c, i]) * float(source[c, j]) for c in range(4))
            assert math.isclose(float(volume[i, j]), expected, rel_tol=1e-12, abs_tol=1e-12)
    torch.testing.assert_close(score_curve(target, source, 3), volume[3])


def test_peak_ratio_and_second_peak_match_a_loop():
    scores = torch.tensor([0.1, 0.9, 0.85, 0.2, 0.6, 0.3], dtype=torch.float64)
    # the best is at 1; 0.85 at 2 is its neighbour: the second peak is 0.6 at 4
    assert second_peak_1d(scores, 1) == 4
    assert math.isclose(peak_ratio_1d(scores, 1), 0.9 / 0.6, rel_tol=1e-9)
    assert second_peak_1d(scores, 0) == 2
    assert math.isclose(peak_ratio_1d(scores, 0), 0.9 / 0.85, rel_tol=1e-9)


@pytest.mark.parametrize("linear", [True, False])
def test_gradient_matches_finite_differences(linear):
    channels, length = 5, 8
    features = _features(3, channels, length)
    objective = toy_objective(length, 0.05, linear=linear)
    filters = initial_filters_1d(features) + 0.1 * _random(4, channels, length)
    gradient = gradient_1d(filters, features, objective)
    step = 1e-6
    for c in range(channels):
        for i in range(length):
            plus, minus = filters.clone(), filters.clone()
            plus[c, i] += step
            minus[c, i] -= step
            difference = float(
                objective_1d(plus, features, objective) - objective_1d(minus, features, objective)
            ) / (2 * step)
            assert math.isclose(float(gradient[c, i]), difference, rel_tol=1e-5, abs_tol=1e-7)


def test_linear_step_length_is_the_exact_line_search():
    """With m = 1 the objective is quadratic in each filter: alpha_i minimises it along -g_i."""
    channels, length = 4, 9
    features = _features(5, channels, length)
    objective = toy_objective(length, 0.3, linear=True)
    filters = initial_filters_1d(features)
    step = gocor_step_1d(filters, features, objective)
    for i in range(length):

        def along(t, i=i):
            moved = filters.clone()
            moved[:, i] -= t * step.gradient[:, i]
            return float(objective_1d(moved, features, objective))

        h = 1e-3
        slope = (along(h) - along(-h)) / (2 * h)  # exact for a quadratic, up to rounding
        curvature = (along(h) - 2 * along(0.0) + along(-h)) / h**2
        assert math.isclose(float(step.step_length[i]), -slope / curvature, rel_tol=1e-5)


def test_linear_steps_reach_the_exact_least_squares_solution():
    """Ridge regression per filter: w_i = (F V_i^2 F^T + lambda I)^-1 F V_i^2 y_i."""
    channels, length = 3, 7
    features = _features(6, channels, length)
    objective = toy_objective(length, 0.2, linear=True)
    exact = torch.empty(channels, length, dtype=torch.float64)
    for i in range(length):
        weight = torch.diag(objective.residual_weight[i] ** 2)
        identity = torch.eye(channels, dtype=torch.float64)
        matrix = features @ weight @ features.T + objective.reg_weight * identity
        exact[:, i] = torch.linalg.solve(matrix, features @ weight @ objective.label[i])
    assert gradient_1d(exact, features, objective).abs().max() < 1e-10
    filters = initial_filters_1d(features)
    for _ in range(300):
        filters = gocor_step_1d(filters, features, objective).filters
    # near the optimum the denominator's floor (1e-8) shortens the steps: close, not exact
    torch.testing.assert_close(filters, exact, atol=2e-5, rtol=0)


@pytest.mark.parametrize("reg", [1e-2, 0.5])
def test_one_step_is_global_gocor_on_a_map_of_one_row(reg):
    """The toy's step equals the library's GlobalGOCor (simple initialiser, no query loss,
    the paper's initial y, v, m) on features of shape (1, C, 1, L)."""
    signals = toy_signals(48, motif_width=9, seed=1)
    target = window_features(signals.target, 4)
    source = window_features(signals.source, 4)
    module = GlobalGOCor(num_iter=2, init_reg=reg).double()
    trace = module.trace(target[None, :, None], source[None, :, None])
    objective = toy_objective(48, reg**2)
    filters = initial_filters_1d(target)
    for k in range(2):
        step = gocor_step_1d(filters, target, objective)
        torch.testing.assert_close(step.step_length, trace.step_lengths[k].flatten())
        filters = step.filters
        torch.testing.assert_close(filters, trace.filters[k + 1][0, :, 0])
        torch.testing.assert_close(
            correlation_1d(filters, source), trace.volumes[k + 1][0, 0, :, 0, :]
        )


def test_the_toy_signal_is_what_its_fields_say():
    signals = toy_signals()
    length = signals.target.numel()
    assert signals.source.shape == (length,)
    # target position i and source position i + shift show the same scene sample
    noise = (signals.target[: length - signals.shift] - signals.source[signals.shift :]).std()
    assert noise < 0.1
    half = signals.motif_width // 2
    motif = signals.target[signals.motif - half : signals.motif + half + 1]
    look_alike = signals.target[signals.look_alike - half : signals.look_alike + half + 1]
    cosine = torch.nn.functional.cosine_similarity(motif, look_alike, dim=0)
    assert 0.7 < float(cosine) < 0.99  # alike, not the same
    assert int(signals.target.argmax()) == signals.spike
