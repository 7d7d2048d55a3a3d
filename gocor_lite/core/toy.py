# SPDX-License-Identifier: MIT
"""The course's toy: correlation, ambiguity and one GOCor step on a 1-D signal.

A signal of ``L`` samples stands for one row of an image, a sample for a feature cell.
Its features are windows of the signal (:func:`window_features`), ``C = 2k+1`` channels per
position, so that every 2-D formula of :mod:`gocor_lite.core.correlation` and
:mod:`gocor_lite.gocor` applies to a map of one row (``h = 1``, ``w = L``): this module is
that mathematics written out for such a map, small enough to read in one sitting.

* :func:`correlation_1d`: the global correlation, ``S[i, j] = <f_i, f'_j>`` (a sum over
  channels); :func:`score_curve`: one target position against every source position;
  :func:`peak_ratio_1d`: the best score over the best one outside the peak's neighbours.
* The GOCor objective of one filter ``w_i`` per target position (that of the released global
  GOCor module, as :mod:`gocor_lite.gocor.optimizer` implements it, with the simple
  initialiser and no query loss): scores on the **target** ``s_ij = <w_i, f_j>``, residual
  ``r_ij = v_ij act(s_ij; m_ij) - v_ij y_ij`` with ``y``, ``v``, ``m`` functions of the
  distance ``|i - j|`` (:class:`ToyObjective`; by default the paper's initial ones from
  :class:`~gocor_lite.gocor.spatial.DistanceFunctions`), loss
  ``1/2 sum r_ij^2 + lambda/2 sum ||w_i||^2`` (:func:`objective_1d`).
* One steepest-descent step in closed form (:func:`gocor_step_1d`): the gradient
  ``g_i = sum_j f_j v_ij act'(s_ij) r_ij + lambda w_i`` (:func:`gradient_1d`) and the
  Gauss-Newton step length per filter
  ``alpha_i = ||g_i||^2 / max(sum_j (v_ij act'(s_ij) <g_i, f_j>)^2 + lambda ||g_i||^2, 1e-8)``
  (:func:`step_length_1d`), then ``w_i <- w_i - alpha_i g_i``. In the *linear* case (``m = 1``:
  the activation is the identity) the objective is a ridge regression in each ``w_i`` and
  ``alpha_i`` is the exact minimiser along ``-g_i``.

``tests/test_toy.py`` checks each against a slow obvious version (loops, finite differences,
an exact least-squares solve) and against :class:`~gocor_lite.gocor.modules.GlobalGOCor` on a
``1 x L`` feature map.

Convention:
    Features are ``(C, L)`` (channels first, as the library's ``(B, C, h, w)``); filters are
    ``(C, L)`` too, column ``i`` the filter of target position ``i``. A table of the
    objective is ``(L, L)``, row ``i`` for filter ``i``, column ``j`` for target position ``j``.
    The source shows the target's scene shifted: target position ``i`` matches source
    position ``i + shift``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gocor_lite.gocor.spatial import DistanceFunctions
from gocor_lite.reading.confidence import peak_ratio

# Floor of the step length's denominator (the semantics page's 1e-8).
_DENOMINATOR_FLOOR = 1e-8


@dataclass(frozen=True)
class ToySignals:
    """A target signal and a source signal that shows the same scene shifted.

    Shapes: ``target (L,)``, ``source (L,)``, float64.
    """

    target: Tensor
    source: Tensor
    shift: int  # target position i matches source position i + shift
    motif: int  # target position of the motif's centre
    look_alike: int  # target position of the look-alike's centre (the motif, slightly changed)
    spike: int  # target position of the distinctive spike's centre
    motif_width: int  # samples of the motif (and of its look-alike)

    def match(self, position: int) -> int:
        """The source position that matches target position ``position``."""
        return position + self.shift


def _smooth(signal: Tensor, sigma: float) -> Tensor:
    """``signal`` convolved with a unit-sum Gaussian of width ``sigma`` samples (zero beyond
    its ends). Shapes: ``(N,) -> (N,)``."""
    radius = int(3 * sigma) + 1
    offsets = torch.arange(-radius, radius + 1, dtype=signal.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    return F.conv1d(F.pad(signal[None, None], (radius, radius)), kernel[None, None])[0, 0]


def toy_signals(
    length: int = 64,
    *,
    shift: int = 5,
    motif_width: int = 11,
    change: float = 0.5,
    noise: float = 0.03,
    seed: int = 0,
) -> ToySignals:
    """A flat scene (zero) with a smooth random motif that appears twice, the second copy
    changed by ``change`` times another random pattern (the look-alike), and a narrow spike
    that appears once; seen twice: the target is the scene from sample ``shift`` on, the
    source from sample 0, each with its own noise of standard deviation ``noise``.

    The motif is white noise smoothed by a Gaussian of 0.7 samples, so that its score peak is
    about as wide as GOCor's initial label (a Gaussian of one position). The motif, the
    look-alike and the spike are centred at a sixth, a half and five sixths of the target.

    Shapes: -> ``target (length,)``, ``source (length,)``, float64.
    """
    if not 0 <= shift < length // 6:
        raise ValueError(f"shift must be in [0, {length // 6}), got {shift}")
    if not 0 < motif_width < length // 3:
        raise ValueError(f"motif_width must be in (0, {length // 3}), got {motif_width}")
    generator = torch.Generator().manual_seed(seed)

    def normal(size: int) -> Tensor:
        return torch.randn(size, generator=generator, dtype=torch.float64)

    first, second, spike = length // 6, length // 2, (5 * length) // 6  # target positions
    motif, difference = normal(motif_width), normal(motif_width)
    scene = torch.zeros(length + shift, dtype=torch.float64)  # scene sample = target + shift
    for centre, pattern in ((first, motif), (second, motif + change * difference)):
        start = centre + shift - motif_width // 2
        scene[start : start + motif_width] = pattern
    scene = _smooth(scene, 0.7)
    scene = 2 * scene / scene.abs().max()  # the motif's extremes at +-2
    offsets = torch.arange(length + shift, dtype=torch.float64) - (spike + shift)
    scene = scene + 3 * torch.exp(-(offsets**2) / (2 * 0.7**2))
    target = scene[shift:] + noise * normal(length)
    source = scene[:length] + noise * normal(length)
    return ToySignals(target, source, shift, first, second, spike, motif_width)


def window_features(signal: Tensor, half_width: int, contrast_floor: float = 0.5) -> Tensor:
    """The feature of each position: the ``2k+1`` samples around it (zero beyond the signal's
    ends), centred (their mean subtracted) and scaled to unit length, so that the score of
    two features is the normalised cross-correlation of two windows, in ``[-1, 1]``. A window
    whose centred samples have a norm below ``contrast_floor`` (a nearly flat stretch) is
    divided by the floor instead: its noise stays a weak feature, not a unit vector.

    Shapes: signal ``(L,)`` -> ``(C, L)`` with ``C = 2 * half_width + 1``.
    """
    if signal.ndim != 1:
        raise ValueError(f"signal must be 1-D (L,), got shape {tuple(signal.shape)}")
    if half_width < 0:
        raise ValueError(f"half_width must be >= 0, got {half_width}")
    if contrast_floor <= 0:
        raise ValueError(f"contrast_floor must be > 0, got {contrast_floor}")
    padded = F.pad(signal[None, None], (half_width, half_width))[0, 0]
    windows = padded.unfold(0, 2 * half_width + 1, 1)  # (L, C)
    centred = windows - windows.mean(dim=1, keepdim=True)
    scale = centred.norm(dim=1, keepdim=True).clamp(min=contrast_floor)
    return (centred / scale).T.contiguous()  # (C, L)


def correlation_1d(target_features: Tensor, source_features: Tensor) -> Tensor:
    """Every target position against every source position: ``S[i, j] = <f_i, f'_j>``, a sum
    over channels (the global correlation of a map of one row).

    Shapes: target_features ``(C, L)``, source_features ``(C, L')`` -> ``(L, L')``.
    """
    return torch.einsum("ci,cj->ij", target_features, source_features)


def score_curve(target_features: Tensor, source_features: Tensor, position: int) -> Tensor:
    """Target position ``position`` against every source position: row ``position`` of
    :func:`correlation_1d`.

    Shapes: target_features ``(C, L)``, source_features ``(C, L')`` -> ``(L',)``.
    """
    return source_features.T @ target_features[:, position]


def peak_ratio_1d(scores: Tensor, exclusion_radius: int = 1) -> float:
    """The best score over the second peak (the best score more than ``exclusion_radius``
    positions from the best): :func:`gocor_lite.reading.confidence.peak_ratio` on a map of one row.
    Near 1: two peaks of nearly the same height (ambiguous); large: one clear peak.

    Shapes: scores ``(L',)`` -> a float.
    """
    return float(peak_ratio(scores.reshape(1, 1, 1, 1, -1), exclusion_radius))


def second_peak_1d(scores: Tensor, exclusion_radius: int = 1) -> int:
    """The position of the best score more than ``exclusion_radius`` positions from the best
    (the second peak of :func:`peak_ratio_1d`).

    Shapes: scores ``(L',)`` -> an index.
    """
    best = int(scores.argmax())
    positions = torch.arange(scores.numel())
    outside = (positions - best).abs() > exclusion_radius
    return int(torch.where(outside, scores, torch.full_like(scores, -torch.inf)).argmax())


@dataclass(frozen=True)
class ToyObjective:
    """GOCor's objective on a 1-D target of ``L`` positions.

    Shapes: ``label``, ``residual_weight``, ``negative_slope`` ``(L, L)``: entry ``[i, j]`` is
    ``y``, ``v`` or ``m`` at the distance ``|i - j|`` (row ``i``: filter ``i``).
    """

    label: Tensor  # y: the score filter i should reach on target position j
    residual_weight: Tensor  # v: how much that residual counts
    negative_slope: Tensor  # m: the activation's slope for negative scores (1: linear)
    reg_weight: float  # lambda, the weight of 1/2 ||w_i||^2


def toy_objective(
    length: int,
    reg_weight: float = 1e-4,
    *,
    linear: bool = False,
    functions: DistanceFunctions | None = None,
) -> ToyObjective:
    """The objective with ``y``, ``v``, ``m`` of ``functions`` (default: GOCor's initial ones,
    a Gaussian label of width one position, ``v = 1``, ``m`` falling with distance) and
    ``lambda = reg_weight`` (default: the paper's initial ``max(reg^2, reg_min^2)``, reg =
    1e-2). ``linear=True`` sets ``m = 1``: the activation is the identity.

    Shapes: -> tables ``(length, length)``, float64.
    """
    if reg_weight < 0:
        raise ValueError(f"reg_weight must be >= 0, got {reg_weight}")
    functions = DistanceFunctions() if functions is None else functions
    positions = torch.arange(length, dtype=torch.float64)
    distance = (positions[:, None] - positions[None, :]).abs()
    with torch.no_grad():
        label, weight, slope = (table.to(torch.float64) for table in functions(distance))
    if linear:
        slope = torch.ones_like(slope)
    return ToyObjective(label, weight, slope, float(reg_weight))


def initial_filters_1d(target_features: Tensor) -> Tensor:
    """GOCor's simple initialiser: ``w_i = f_i / ||f_i||^2``, so that ``<w_i, f_i> = 1``
    (a zero feature gets a zero filter).

    Shapes: ``(C, L) -> (C, L)``.
    """
    energy = target_features.square().sum(0, keepdim=True)
    return target_features / torch.where(energy > 0, energy, torch.ones_like(energy))


def activation(scores: Tensor, negative_slope: Tensor) -> Tensor:
    """``act(s; m) = (1 - m)/2 |s| + (1 + m)/2 s``: ``s`` where ``s >= 0``, ``m s`` below."""
    return (1 - negative_slope) / 2 * scores.abs() + (1 + negative_slope) / 2 * scores


def activation_slope(scores: Tensor, negative_slope: Tensor) -> Tensor:
    """``act'(s; m) = (1 - m)/2 sign(s) + (1 + m)/2``: 1 where ``s > 0``, ``m`` where ``s < 0``."""
    return (1 - negative_slope) / 2 * torch.sign(scores) + (1 + negative_slope) / 2


def target_scores_1d(filters: Tensor, target_features: Tensor) -> Tensor:
    """The filters' scores on the target itself, ``s_ij = <w_i, f_j>``.

    Shapes: filters ``(C, L)``, target_features ``(C, L)`` -> ``(L, L)``.
    """
    return correlation_1d(filters, target_features)


def residuals_1d(filters: Tensor, target_features: Tensor, objective: ToyObjective) -> Tensor:
    """``r_ij = v_ij act(s_ij; m_ij) - v_ij y_ij``.

    Shapes: filters ``(C, L)``, target_features ``(C, L)`` -> ``(L, L)``.
    """
    scores = target_scores_1d(filters, target_features)
    weight = objective.residual_weight
    return weight * activation(scores, objective.negative_slope) - weight * objective.label


def objective_1d(filters: Tensor, target_features: Tensor, objective: ToyObjective) -> Tensor:
    """``1/2 sum_ij r_ij^2 + lambda/2 sum_i ||w_i||^2``.

    Shapes: filters ``(C, L)``, target_features ``(C, L)`` -> ``()``.
    """
    residuals = residuals_1d(filters, target_features, objective)
    return 0.5 * residuals.square().sum() + 0.5 * objective.reg_weight * filters.square().sum()


def gradient_1d(filters: Tensor, target_features: Tensor, objective: ToyObjective) -> Tensor:
    """The objective's gradient in the filters,
    ``g_i = sum_j f_j v_ij act'(s_ij) r_ij + lambda w_i``.

    Shapes: filters ``(C, L)``, target_features ``(C, L)`` -> ``(C, L)``.
    """
    scores = target_scores_1d(filters, target_features)
    residuals = residuals_1d(filters, target_features, objective)
    weight = objective.residual_weight * activation_slope(scores, objective.negative_slope)
    return target_features @ (weight * residuals).T + objective.reg_weight * filters


def step_length_1d(
    gradient: Tensor, target_features: Tensor, weight: Tensor, reg_weight: float
) -> Tensor:
    """The Gauss-Newton step length of each filter,
    ``alpha_i = ||g_i||^2 / max(sum_j (weight_ij <g_i, f_j>)^2 + lambda ||g_i||^2, 1e-8)``
    with ``weight_ij = v_ij act'(s_ij)``.

    Shapes: gradient ``(C, N)``, target_features ``(C, L)``, weight ``(N, L)`` -> ``(N,)``
    (``N`` filters); or one filter: gradient ``(C,)``, weight ``(L,)`` -> ``()``.
    """
    along = torch.einsum("c...,cl->...l", gradient, target_features)  # <g_i, f_j>
    curvature = (weight * along).square().sum(-1)
    energy = gradient.square().sum(0)
    return energy / (curvature + reg_weight * energy).clamp(min=_DENOMINATOR_FLOOR)


@dataclass(frozen=True)
class ToyStep:
    """One steepest-descent step of every filter.

    Shapes: filters ``(C, L)`` (after the step), gradient ``(C, L)``, step_length ``(L,)``.
    """

    filters: Tensor
    gradient: Tensor
    step_length: Tensor


def gocor_step_1d(filters: Tensor, target_features: Tensor, objective: ToyObjective) -> ToyStep:
    """One step ``w_i <- w_i - alpha_i g_i`` (:func:`gradient_1d`, :func:`step_length_1d`).

    Shapes: filters ``(C, L)``, target_features ``(C, L)`` -> :class:`ToyStep`.
    """
    gradient = gradient_1d(filters, target_features, objective)
    scores = target_scores_1d(filters, target_features)
    weight = objective.residual_weight * activation_slope(scores, objective.negative_slope)
    alpha = step_length_1d(gradient, target_features, weight, objective.reg_weight)
    return ToyStep(filters - alpha[None, :] * gradient, gradient, alpha)
