# SPDX-License-Identifier: MIT
"""Matching rules: the ways networks read one match per target cell out of a global volume,
side by side, on the same scores.

A correlation volume says how alike every target cell is to every source cell. How a network
turns that into a match is a design choice of its own, and the choices differ exactly where
the scores are ambiguous (repeated structure):

* ``argmax``: the highest score (:func:`gocor_lite.reading.matching.best_match`); what the course
  and the flow pipeline's default estimator do.
* ``soft-argmax``: the expected source cell under ``softmax(scores / T)``
  (:func:`gocor_lite.reading.matching.soft_argmax`); differentiable, but with two distant peaks it
  averages them and lands *between* the look-alikes.
* ``softmax``: the same distribution read by its mode (the argmax again), with its probability
  as the confidence (:func:`softmax_probability`).
* ``dual-softmax``: a softmax over the source *times* a softmax over the target
  (:func:`dual_softmax`), as in LoFTR (Sun et al., CVPR 2021): a match must be the best for
  both cells.
* ``mutual``: mutual nearest neighbours (:func:`mutual_nearest_neighbours`): keep a match only
  if the source cell's best target cell is the target cell back; the others are refused.
* ``cyclic``: GLU-Net's cyclic-consistency treatment of its global volume
  (:func:`cyclic_consistency`; Truong et al., CVPR 2020, after NC-Net's soft mutual filter),
  read by its argmax.
* ``sinkhorn``: optimal transport with a dustbin, in the log domain (:func:`sinkhorn`), as in
  SuperGlue (Sarlin et al., CVPR 2020) and LoFTR: every target cell distributes one unit of
  mass over the source cells *and* a dustbin, every source cell receives at most one; a cell
  whose dustbin wins is refused.
* GOCor (Truong et al., NeurIPS 2020): not a reading of this volume but a better volume,
  optimised so that look-alikes in the target score low (:class:`~gocor_lite.GlobalGOCor`),
  then read by its argmax. :func:`match_with_rules` takes GOCor modules by name.

:func:`read_rules` applies the rules to one volume and returns a :class:`RuleResult` per rule
(its map over the source for every target cell, its matches, which ones it accepts, and its
own confidence); :func:`rule_maps` slices every rule's map for one target cell (what the app
shows for a clicked pixel). Whole-image accuracy and calibration are in
:mod:`gocor_lite.evaluation.rule_scores`.

Convention:
    Volumes are ``(B, h, w, h', w')``, indexed ``[b, target_y, target_x, source_y, source_x]``;
    matches are source *cells* ``(B, 2, h, w)`` (x then y) on the target grid, as in
    :mod:`gocor_lite.reading.matching`. Temperatures divide the scores (cosines of centred,
    unit-length features in this project) before a softmax. Confidences are higher-is-surer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from gocor_lite._checks import check_volume
from gocor_lite.core.correlation import global_correlation
from gocor_lite.gocor.modules import GlobalGOCor
from gocor_lite.reading.confidence import cycle_error, mass_within, peak_ratio
from gocor_lite.reading.matching import best_match, soft_argmax

#: The rules that read a volume, in the order they are shown.
RULES: tuple[str, ...] = (
    "argmax",
    "soft-argmax",
    "softmax",
    "dual-softmax",
    "mutual",
    "cyclic",
    "sinkhorn",
)

#: One sentence per rule, for captions and the app.
RULE_DESCRIPTIONS: dict[str, str] = {
    "argmax": "The source cell with the highest score; confidence: best over second peak.",
    "soft-argmax": "The expected source cell under softmax(scores / T): smooth, but with two "
    "distant peaks it lands between them; confidence: probability mass near the mode.",
    "softmax": "The most probable source cell under softmax(scores / T) (the argmax again); "
    "confidence: its probability.",
    "dual-softmax": "Softmax over the source times softmax over the target (LoFTR): high only "
    "where each cell is the other's best; confidence: that product.",
    "mutual": "The argmax, kept only where the source cell's best target cell is this one "
    "(mutual nearest neighbours); refused otherwise.",
    "cyclic": "GLU-Net's cyclic consistency: each score times its ratios to the best score of "
    "its target row and of its source column, then the argmax.",
    "sinkhorn": "Optimal transport with a dustbin (SuperGlue, LoFTR): each target cell sends "
    "one unit of mass, each source cell takes at most one; refused where the dustbin wins.",
    "gocor": "GOCor: filters optimised so that look-alikes in the target score low, read by "
    "the argmax of their volume; confidence: best over second peak.",
}


def _check_temperature(temperature: float) -> float:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return float(temperature)


def softmax_probability(volume: Tensor, temperature: float = 0.05) -> Tensor:
    """Each target cell's scores as a distribution over the source cells.

    Shapes: ``(B, h, w, h', w') -> (B, h, w, h', w')``; every target cell's map sums to 1.

    Convention:
        ``softmax(volume / temperature)`` over the last two axes (the ``h' w'`` source cells of
        one target cell), never over the target cells: entry ``[b, i, j]`` is ``P(j | i)``. A
        small temperature puts all the mass on the best score, a large one spreads it evenly.
    """
    volume = check_volume(volume)
    temperature = _check_temperature(temperature)
    return torch.softmax(volume.flatten(-2) / temperature, dim=-1).view_as(volume)


def dual_softmax(volume: Tensor, temperature: float = 0.05) -> Tensor:
    """LoFTR's dual-softmax: ``softmax over the source * softmax over the target``.

    Shapes: ``(B, h, w, h', w') -> (B, h, w, h', w')`` in ``[0, 1]``.

    Convention:
        Entry ``[b, i, j]`` is ``P(j | i) * P(i | j)``: the probability that target cell ``i``
        picks source cell ``j`` (softmax over the ``h' w'`` source cells) times the
        probability that ``j`` picks ``i`` back (softmax over the ``h w`` target cells), both
        of ``volume / temperature``. It is high only for a pair that each prefers, so a
        target cell among look-alikes has a low value everywhere.
    """
    volume = check_volume(volume)
    temperature = _check_temperature(temperature)
    scaled = volume / temperature
    over_source = torch.softmax(scaled.flatten(-2), dim=-1).view_as(volume)
    over_target = torch.softmax(scaled.flatten(1, 2), dim=1).view_as(volume)
    return over_source * over_target


def mutual_nearest_neighbours(volume: Tensor) -> Tensor:
    """Whether each target cell and its best source cell are each other's best.

    Shapes: ``(B, h, w, h', w') -> (B, h, w)`` bool.

    Convention:
        Target cell ``i`` with best source cell ``j = argmax_j volume[i, j]`` is a mutual
        nearest neighbour when ``argmax_i' volume[i', j] == i``. Ties go to the first cell in
        row-major order on both sides (``torch.argmax``), so exactly one best cell each way.
    """
    return cycle_error(check_volume(volume)) == 0


def cyclic_consistency(volume: Tensor, eps: float = 1e-5) -> Tensor:
    """GLU-Net's cyclic-consistency ("mutual matching") treatment of a global volume.

    ``C <- C * (C / (max over target + eps)) * (C / (max over source + eps))``: each score
    times its ratio to the best score of its source cell (over all target cells) and to the
    best score of its target cell (over all source cells).

    Shapes: ``(B, h, w, h', w') -> (B, h, w, h', w')``.

    Convention:
        As in GLU-Net (its reference: ``glunet-architecture.md`` §4.1 step 3 and pitfall 6):
        the same ``eps = 1e-5`` on both maxima, three copies of the volume multiplied, the max
        over target positions taken per source cell and the max over source positions per
        target cell. GLU-Net's scores are non-negative (products of ReLU features); for scores
        that can be negative (centred features) give ``volume.clamp(min=0)``, as
        :func:`read_rules` does, or the ratios change sign.
    """
    volume = check_volume(volume)
    best_over_target = volume.amax(dim=(1, 2), keepdim=True)  # (B, 1, 1, h', w')
    best_over_source = volume.amax(dim=(3, 4), keepdim=True)  # (B, h, w, 1, 1)
    return volume * (volume / (best_over_target + eps)) * (volume / (best_over_source + eps))


def sinkhorn(
    volume: Tensor, dustbin_score: float = 0.5, temperature: float = 0.05, iterations: int = 100
) -> Tensor:
    """Entropic optimal transport between target and source cells with a dustbin on each side,
    in the log domain (SuperGlue, Sarlin et al. CVPR 2020; LoFTR, Sun et al. CVPR 2021).

    Shapes: ``(B, h, w, h', w') -> (B, h*w + 1, h'*w' + 1)``: the log of the transport plan,
    rows = target cells (row-major) then the target dustbin, columns = source cells then the
    source dustbin.

    Convention:
        The couplings are ``volume / temperature`` between cells and
        ``dustbin_score / temperature`` for every entry of the dustbin row and column (corner
        included), as SuperGlue's single learned dustbin score. The prescribed masses are 1
        for each of the ``M = h w`` target cells and ``N = h' w'`` for the target dustbin
        (it can absorb every source cell), 1 for each source cell and ``M`` for the source
        dustbin: both sides carry ``M + N``. ``iterations`` alternate row and column
        rescalings (log-sum-exp, stable for any temperature), columns last: the column masses
        hold exactly, the row masses to the convergence reached. Row ``i`` of
        ``exp(plan)`` is then a distribution over the source cells and the dustbin. Each
        log-sum-exp is computed as a stabilised matrix-vector product (float64), about ten
        times faster than the direct one at the same result.
    """
    volume = check_volume(volume)
    temperature = _check_temperature(temperature)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be an integer >= 1, got {iterations!r}")
    batch, height, width, source_height, source_width = volume.shape
    rows, columns = height * width, source_height * source_width
    couplings = volume.new_full((batch, rows + 1, columns + 1), dustbin_score / temperature)
    couplings[:, :rows, :columns] = volume.reshape(batch, rows, columns) / temperature
    log_rows = volume.new_zeros(rows + 1)
    log_rows[rows] = math.log(columns)
    log_columns = volume.new_zeros(columns + 1)
    log_columns[columns] = math.log(rows)
    u = volume.new_zeros(batch, rows + 1)
    v = volume.new_zeros(batch, columns + 1)
    over_columns = _LogSumExp(couplings, dim=2)  # log sum_j exp(Z_ij + v_j), per row i
    over_rows = _LogSumExp(couplings, dim=1)  # log sum_i exp(Z_ij + u_i), per column j
    for _ in range(iterations):
        u = log_rows - over_columns(v)
        v = log_columns - over_rows(u)
    return couplings + u[:, :, None] + v[:, None, :]


class _LogSumExp:
    """``log sum_k exp(Z + p)`` along one axis of fixed couplings ``Z`` for changing potentials
    ``p``, as a matrix-vector product: ``Z`` minus its maximum along the axis is exponentiated
    once (float64), and each call multiplies it by ``exp(p - max p)``. Exact up to rounding
    unless even the largest term underflows float64 (a potential range beyond ~700); then that
    call takes the direct ``torch.logsumexp``."""

    def __init__(self, couplings: Tensor, dim: int):
        self.couplings, self.dim = couplings, dim
        wide = couplings.to(torch.float64)
        self.peak = wide.amax(dim=dim, keepdim=True)
        kernel = (wide - self.peak).exp()  # (B, M+1, N+1), entries in (0, 1]
        self.kernel = kernel if dim == 2 else kernel.transpose(1, 2)
        self.peak = self.peak.squeeze(dim)

    def __call__(self, potentials: Tensor) -> Tensor:
        wide = potentials.to(torch.float64)
        top = wide.amax(dim=1, keepdim=True)
        sums = torch.bmm(self.kernel, (wide - top).exp()[..., None])[..., 0]
        out = sums.log() + self.peak + top
        if not bool(torch.isfinite(out).all()):
            along = 1 if self.dim == 2 else 2
            out = torch.logsumexp(self.couplings + potentials.unsqueeze(along), dim=self.dim)
        return out.to(potentials.dtype)


def sinkhorn_assignment(
    volume: Tensor, dustbin_score: float = 0.5, temperature: float = 0.05, iterations: int = 100
) -> tuple[Tensor, Tensor]:
    """:func:`sinkhorn`'s plan as maps: each target cell's mass over the source cells, and the
    mass it sends to the dustbin (its "no match" share).

    Shapes: ``(B, h, w, h', w') -> ((B, h, w, h', w'), (B, h, w))``.

    Convention:
        The rows of :func:`sinkhorn`'s plan for the target cells, exponentiated: per target
        cell the map and its dustbin share sum to 1 (to the convergence reached); the source
        dustbin's column is left out.
    """
    plan = sinkhorn(volume, dustbin_score, temperature, iterations).exp()
    batch, height, width = volume.shape[:3]
    cells = plan[:, : height * width, :-1].reshape(volume.shape)
    dustbin = plan[:, : height * width, -1].reshape(batch, height, width)
    return cells, dustbin


@dataclass(frozen=True)
class RuleSettings:
    """Settings of :func:`read_rules`; chosen a priori, not tuned on any evaluation image."""

    # Of soft-argmax, softmax, dual-softmax and Sinkhorn; 0.05 is the temperature the learned
    # features were trained with (gocor_lite.training.extractor), so softmax(scores / 0.05) is
    # the distribution they were taught to put on the true match.
    temperature: float = 0.05
    dustbin_score: float = 0.5  # Sinkhorn's score for "no match", in the volume's units (cosine)
    sinkhorn_iterations: int = 100
    mass_radius: int = 1  # cells around the mode counted by soft-argmax's confidence
    exclusion_radius: int = 1  # cells around the peak that are not a "second peak"


@dataclass(frozen=True)
class RuleResult:
    """What one rule makes of a volume.

    Shapes: scores ``(B, h, w, h', w')``: the map the rule reads for each target cell (the
    correlation itself, a probability, a transport plan, GOCor's volume); matches
    ``(B, 2, h, w)`` source cells (fractional for soft-argmax); accepted ``(B, h, w)`` bool,
    false where the rule refuses to match; confidence ``(B, h, w)``, higher is surer (its
    scale differs from rule to rule: only its order within a rule means something; refused
    cells get the lowest).
    """

    name: str
    scores: Tensor
    matches: Tensor
    accepted: Tensor
    confidence: Tensor


def _accept_all(volume: Tensor) -> Tensor:
    return torch.ones(volume.shape[:3], dtype=torch.bool, device=volume.device)


def _at_matches(scores: Tensor, matches: Tensor) -> Tensor:
    """``scores (B, h, w, h', w')`` read at integer ``matches (B, 2, h, w)`` -> ``(B, h, w)``."""
    index = (matches[:, 1] * scores.shape[-1] + matches[:, 0]).long()  # (B, h, w)
    return scores.flatten(-2).gather(-1, index[..., None])[..., 0]


def _argmax_result(name: str, scores: Tensor, settings: RuleSettings) -> RuleResult:
    matches = best_match(scores)
    confidence = peak_ratio(scores, settings.exclusion_radius)
    return RuleResult(name, scores, matches, _accept_all(scores), confidence)


def read_rule(name: str, volume: Tensor, settings: RuleSettings | None = None) -> RuleResult:
    """Apply the rule called ``name`` (one of :data:`RULES`, or ``"gocor"`` for a GOCor
    volume read by its argmax) to ``volume``; see :class:`RuleResult`.

    Shapes: ``(B, h, w, h', w')`` -> a :class:`RuleResult` of ``(B, h, w, h', w')`` scores and
    ``(B, 2, h, w)`` / ``(B, h, w)`` per-cell fields.

    Convention:
        ``volume`` is a global correlation, or any volume where higher means more alike (such
        as GOCor's). Each rule's confidence: argmax and GOCor,
        :func:`~gocor_lite.reading.confidence. peak_ratio`; soft-argmax, the probability within
        ``mass_radius`` cells of the mode; softmax and dual-softmax, the probability of the match;
        mutual, the peak ratio where mutual and 0 where refused; cyclic, the filtered score of the
        match; Sinkhorn, the transported mass of the match, 0 where the dustbin wins (refused).

    >>> volume = torch.zeros(1, 1, 2, 1, 2); volume[0, 0, :, 0, 0] = 1.0  # both pick cell 0
    >>> read_rule("mutual", volume).accepted.tolist()  # source cell 0 picks target cell 0 back
    [[[True, False]]]
    """
    volume = check_volume(volume)
    settings = RuleSettings() if settings is None else settings
    temperature = settings.temperature
    if name in ("argmax", "gocor"):
        return _argmax_result(name, volume, settings)
    if name == "soft-argmax":
        probability = softmax_probability(volume, temperature)
        matches = soft_argmax(volume, temperature)
        confidence = mass_within(probability, settings.mass_radius)
        return RuleResult(name, probability, matches, _accept_all(volume), confidence)
    if name == "softmax":
        probability = softmax_probability(volume, temperature)
        matches = best_match(probability)
        confidence = probability.flatten(-2).amax(-1)
        return RuleResult(name, probability, matches, _accept_all(volume), confidence)
    if name == "dual-softmax":
        probability = dual_softmax(volume, temperature)
        matches = best_match(probability)
        confidence = probability.flatten(-2).amax(-1)
        return RuleResult(name, probability, matches, _accept_all(volume), confidence)
    if name == "mutual":
        accepted = mutual_nearest_neighbours(volume)
        ratio = peak_ratio(volume, settings.exclusion_radius)
        confidence = torch.where(accepted, ratio, torch.zeros_like(ratio))
        return RuleResult(name, volume, best_match(volume), accepted, confidence)
    if name == "cyclic":
        filtered = cyclic_consistency(volume.clamp(min=0))
        matches = best_match(filtered)
        confidence = filtered.flatten(-2).amax(-1)
        return RuleResult(name, filtered, matches, _accept_all(volume), confidence)
    if name == "sinkhorn":
        plan, dustbin = sinkhorn_assignment(
            volume, settings.dustbin_score, temperature, settings.sinkhorn_iterations
        )
        matches = best_match(plan)
        mass = _at_matches(plan, matches)
        accepted = mass > dustbin
        confidence = torch.where(accepted, mass, torch.zeros_like(mass))
        return RuleResult(name, plan, matches, accepted, confidence)
    raise ValueError(f"unknown matching rule {name!r}; available: {[*RULES, 'gocor']}")


def read_rules(
    volume: Tensor, rules: Sequence[str] = RULES, settings: RuleSettings | None = None
) -> dict[str, RuleResult]:
    """Every rule of ``rules`` applied to the same ``volume``: name -> :class:`RuleResult`."""
    return {name: read_rule(name, volume, settings) for name in rules}


@torch.no_grad()
def match_with_rules(
    target: Tensor,
    source: Tensor,
    *,
    gocor: Mapping[str, GlobalGOCor] | None = None,
    rules: Sequence[str] = RULES,
    settings: RuleSettings | None = None,
) -> dict[str, RuleResult]:
    """Every rule on the global correlation of ``target`` and ``source`` features, and each
    GOCor module of ``gocor`` (name -> module, e.g. ``{"gocor": trained}``) read by its argmax.

    Shapes: target ``(B, C, h, w)``, source ``(B, C, h', w')`` -> name -> :class:`RuleResult`
    with ``(B, h, w, h', w')`` maps.

    Convention:
        The features are given as they are correlated elsewhere (centred and L2-normalised by
        :func:`gocor_lite.core.features.normalize_features`, so scores are cosines); the volume is
        computed once and shared by every rule; GOCor modules get the same features.
    """
    volume = global_correlation(target, source)
    results = read_rules(volume, rules, settings)
    settings = RuleSettings() if settings is None else settings
    for name, module in (gocor or {}).items():
        if name in results:
            raise ValueError(f"GOCor module name {name!r} is already a rule's name")
        results[name] = _argmax_result(name, module(target, source), settings)
    return results


def rule_maps(
    results: Mapping[str, RuleResult], cell: tuple[int, int], batch_index: int = 0
) -> dict[str, Tensor]:
    """Every rule's map over the source for one target ``cell = (x, y)``: what the app shows
    for a clicked pixel.

    Shapes: results' scores ``(B, h, w, h', w')`` -> name -> ``(h', w')``.

    Convention:
        ``cell`` is ``(x, y)`` (column first, as everywhere in the library). Each map is on its
        rule's own scale (scores, probabilities, transport mass): draw each with its own colour
        bar, or normalise by its maximum to compare shapes.
    """
    x, y = cell
    return {name: result.scores[batch_index, y, x] for name, result in results.items()}
