# SPDX-License-Identifier: MIT
"""How well each matching rule (:mod:`gocor_lite.reading.rules`) matches, and whether its confidence
knows when it is wrong: whole-image scores on a pair with ground truth, a table row per rule
and set, and a sparsification (calibration) curve per rule.

* :func:`score_rules`: for matches a set of rules made on one pair (or batch), the whole-image
  numbers of each rule (:class:`RuleScore`); :func:`pair_rule_scores` does everything from an
  :class:`~gocor_lite.data.pairs.ExamplePair` with its flow (what the app and the notebooks
  show beside a single pixel).
* :func:`sparsification`: keep only the most confident ``x %`` of the matches and measure how
  many of those are wrong; a confidence that knows its errors gives a curve that starts near
  zero and rises late. The *oracle* keeps the matches in order of their true error (the best
  any confidence could do); the area between the two (AUSE, Ilg et al., ECCV 2018) says how
  far the confidence is from that.
* :func:`evaluate_rules`: every rule (and GOCor) on held-out sets, pooled per set
  (:class:`RulesEvaluation`), and :func:`rules_section` its markdown for
  ``docs/evaluation.md``.

Convention:
    A target cell counts where its true match is known (:func:`gocor_lite.reading.supervision.
    true_matches`). A match is *right* when its source position (cell centre, in pixels) is
    within one feature cell (``stride`` pixels) of the true match. A refused match (mutual
    nearest neighbours, Sinkhorn's dustbin) counts as a miss for ``pck_cell`` and is left out
    of ``precision`` and ``aepe``; in the sparsification curves refused matches rank last
    (their confidence is the rule's lowest). Matches of equal confidence are taken in a random
    order, in expectation (ties are averaged, never broken by position).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gocor_lite.core.correlation import global_correlation
from gocor_lite.core.features import FeatureExtractor, pair_features
from gocor_lite.core.grid import cell_to_pixel
from gocor_lite.data.pairs import ExamplePair
from gocor_lite.data.synthetic import WarpedBatch
from gocor_lite.evaluation.sets import load_sets
from gocor_lite.files.images import to_tensor
from gocor_lite.files.weights import GOCorParameters, gocor_module
from gocor_lite.gocor.modules import GlobalGOCor
from gocor_lite.reading.confidence import cycle_error, mass_within, peak_ratio
from gocor_lite.reading.rules import (
    RULES,
    RuleResult,
    RuleSettings,
    match_with_rules,
    softmax_probability,
)
from gocor_lite.reading.supervision import true_matches

#: Kept fractions of the sparsification curves: 5 %, 10 %, ..., 100 %.
FRACTIONS = np.linspace(0.05, 1.0, 20)
#: The confidence measures of :mod:`gocor_lite.reading.confidence`, compared on the argmax's
#: matches.
CONFIDENCE_MEASURES: tuple[str, ...] = ("peak ratio", "mass within 1 cell", "cycle error")


@dataclass(frozen=True)
class RuleScore:
    """One rule's whole-image numbers (percentages in ``[0, 100]``)."""

    pck_cell: float  # % of the counted cells matched within one cell (refusals are misses)
    accepted: float  # % of the counted cells the rule matches (does not refuse)
    precision: float  # % of the accepted matches within one cell
    aepe: float  # mean endpoint error of the accepted matches, pixels
    count: int  # counted target cells


@dataclass(frozen=True)
class Sparsification:
    """A sparsification curve: % of wrong matches among the most confident ``fractions``."""

    fractions: np.ndarray  # kept fraction of the matches, in (0, 1]
    wrong: np.ndarray  # % wrong among them, most confident first
    oracle: np.ndarray  # % wrong when kept in order of the true error

    @property
    def ause(self) -> float:
        """Area between the curve and the oracle's, in % (mean over the fractions)."""
        return float(np.mean(self.wrong - self.oracle))


def _ordered_wrong(wrong: Tensor, key: Tensor) -> Tensor:
    """Expected number of wrong matches among the first ``k`` by decreasing ``key``, for every
    ``k``, averaging over the orders of tied keys. ``(N,) -> (N,)`` float64."""
    order = torch.argsort(key, descending=True, stable=True)
    sorted_key, sorted_wrong = key[order], wrong[order].to(torch.float64)
    _, group, counts = torch.unique_consecutive(sorted_key, return_inverse=True, return_counts=True)
    totals = torch.zeros(len(counts), dtype=torch.float64).index_add_(0, group, sorted_wrong)
    return torch.cumsum((totals / counts)[group], dim=0)


def sparsification(
    error: Tensor,
    confidence: Tensor,
    threshold: float,
    fractions: np.ndarray = FRACTIONS,
) -> Sparsification:
    """The sparsification curve of matches with endpoint ``error`` (pixels) and ``confidence``
    (higher is surer): for each kept fraction ``f``, the % of the ``ceil(f N)`` most confident
    matches whose error is ``>= threshold``, and the same for the oracle (ordered by error).

    Shapes: error, confidence ``(N,)`` (flattened over the counted cells), ``N >= 1``.

    >>> curve = sparsification(torch.tensor([0.0, 9.0]), torch.tensor([2.0, 1.0]), 8.0,
    ...                        np.array([0.5, 1.0]))
    >>> curve.wrong.tolist(), curve.oracle.tolist()  # the confident match is the right one
    ([0.0, 50.0], [0.0, 50.0])
    """
    error, confidence = error.flatten().cpu(), confidence.flatten().cpu().to(torch.float64)
    if error.numel() == 0 or error.shape != confidence.shape:
        raise ValueError(
            f"need as many errors as confidences, at least one: {error.shape}, {confidence.shape}"
        )
    if not bool(torch.isfinite(confidence).all()):
        raise ValueError("confidence contains NaN or infinite values")
    wrong = error >= threshold
    count = error.numel()
    kept = np.clip(np.ceil(np.asarray(fractions) * count).astype(int), 1, count)
    by_confidence = _ordered_wrong(wrong, confidence)
    by_error = _ordered_wrong(wrong, -error.to(torch.float64))
    index = torch.from_numpy(kept - 1)
    scale = 100.0 / kept
    return Sparsification(
        fractions=np.asarray(fractions, dtype=np.float64),
        wrong=by_confidence[index].numpy() * scale,
        oracle=by_error[index].numpy() * scale,
    )


def endpoint_errors(result: RuleResult, truth: Tensor, stride: float) -> Tensor:
    """Endpoint error in pixels of every target cell's match, float64 ``(B, h, w)``: the
    distance from its source cell's centre to the true match ``truth`` ``(B, 2, h, w)``
    (:func:`pair_truth`)."""
    return (cell_to_pixel(result.matches, stride) - truth).to(torch.float64).norm(dim=1)


def _score(error: Tensor, accepted: Tensor, stride: float) -> RuleScore:
    """The numbers of one rule from the errors (pixels) and acceptances of its counted cells."""
    count = error.numel()
    if count == 0:
        raise ValueError("no target cell with a known true match to score")
    right = int(((error < stride) & accepted).sum())
    taken = int(accepted.sum())
    return RuleScore(
        pck_cell=100.0 * right / count,
        accepted=100.0 * taken / count,
        precision=100.0 * right / taken if taken else math.nan,
        aepe=float(error[accepted].mean()) if taken else math.nan,
        count=count,
    )


def score_rules(
    results: Mapping[str, RuleResult], truth: Tensor, known: Tensor, stride: float
) -> dict[str, RuleScore]:
    """Whole-image numbers of every rule on the cells whose truth is known.

    Shapes: results' matches ``(B, 2, h, w)`` source cells; truth ``(B, 2, h, w)`` source
    pixels of the target cell centres; known ``(B, h, w)`` bool; ``stride`` pixels per cell
    (target and source alike).
    """
    return {
        name: _score(endpoint_errors(result, truth, stride)[known], result.accepted[known], stride)
        for name, result in results.items()
    }


def pair_truth(
    flow: np.ndarray | Tensor, grid: tuple[int, int], stride: int
) -> tuple[Tensor, Tensor]:
    """The true source pixel of every target cell centre and whether it is known, from a flow
    ``(2, H, W)`` or ``(B, 2, H, W)`` with NaN where unknown: ``(B, 2, h, w)``, ``(B, h, w)``."""
    flow = torch.as_tensor(np.ascontiguousarray(flow) if isinstance(flow, np.ndarray) else flow)
    flow = flow[None] if flow.dim() == 3 else flow
    valid = torch.isfinite(flow).all(dim=1, keepdim=True)
    return true_matches(flow.nan_to_num(0.0), valid, grid, stride)


def central_cell(mask: Tensor) -> tuple[int, int]:
    """The cell ``(x, y)`` of a bool map ``(h, w)`` nearest the map's centre (the first in
    row-major order among equals): how the notebooks pick an example cell by a property (a
    wrong match, one GOCor fixes) instead of by hand. ``ValueError`` if no cell is set."""
    if mask.dim() != 2 or not bool(mask.any()):
        raise ValueError(f"need a (h, w) bool map with at least one cell set, got {mask.shape}")
    ys, xs = torch.nonzero(mask, as_tuple=True)
    height, width = mask.shape
    distance = (ys - (height - 1) / 2) ** 2 + (xs - (width - 1) / 2) ** 2
    index = int(distance.argmin())
    return int(xs[index]), int(ys[index])


def pair_rule_scores(
    pair: ExamplePair,
    extractor: FeatureExtractor,
    *,
    gocor: Mapping[str, GlobalGOCor] | None = None,
    rules: Sequence[str] = RULES,
    settings: RuleSettings | None = None,
) -> dict[str, RuleScore]:
    """Whole-image accuracy of each rule (and each GOCor module of ``gocor``) on one pair with
    ground truth, at the pair's own size. Raises ``ValueError`` if the pair has no flow."""
    if pair.flow is None:
        raise ValueError(f"pair {pair.name!r} has no ground-truth flow to score against")
    target, source = pair_features(extractor, to_tensor(pair.target), to_tensor(pair.source))
    truth, known = pair_truth(pair.flow, (target.shape[2], target.shape[3]), extractor.stride)
    results = match_with_rules(target, source, gocor=gocor, rules=rules, settings=settings)
    return score_rules(results, truth, known, extractor.stride)


@dataclass(frozen=True)
class RulesEvaluation:
    """Everything :func:`evaluate_rules` measured: per set, per rule, the scores and the
    sparsification curve of the rule's own confidence; per set, the three confidence measures
    of :mod:`gocor_lite.reading.confidence` on the argmax's matches."""

    scores: dict[str, dict[str, RuleScore]]  # set -> rule -> score
    curves: dict[str, dict[str, Sparsification]]  # set -> rule -> curve
    measures: dict[str, dict[str, Sparsification]]  # set -> confidence measure -> curve
    stride: int
    settings: RuleSettings
    seconds: float  # wall time of the evaluation


def _measures(volume: Tensor, settings: RuleSettings) -> dict[str, Tensor]:
    """The confidence measures of the argmax's matches (higher is surer), ``(B, h, w)`` each."""
    probability = softmax_probability(volume, settings.temperature)
    return {
        "peak ratio": peak_ratio(volume, settings.exclusion_radius),
        "mass within 1 cell": mass_within(probability, 1),
        "cycle error": -cycle_error(volume),
    }


@torch.no_grad()
def evaluate_rules(
    extractor: FeatureExtractor,
    sets: Mapping[str, WarpedBatch],
    *,
    gocor: Mapping[str, GlobalGOCor] | None = None,
    rules: Sequence[str] = RULES,
    settings: RuleSettings | None = None,
) -> RulesEvaluation:
    """Every rule of ``rules`` (and each GOCor module of ``gocor``) on every set (name -> pairs
    with ground truth), pooled over the set's counted target cells. Pairs are matched one at a
    time (each rule keeps a few volumes of the pair)."""
    started = time.perf_counter()
    settings = RuleSettings() if settings is None else settings
    stride = extractor.stride
    scores: dict[str, dict[str, RuleScore]] = {}
    curves: dict[str, dict[str, Sparsification]] = {}
    measures: dict[str, dict[str, Sparsification]] = {}
    for set_name, batch in sets.items():
        errors: dict[str, list[Tensor]] = {}
        accepted: dict[str, list[Tensor]] = {}
        confidences: dict[str, list[Tensor]] = {}
        measured: dict[str, list[Tensor]] = {}
        for index in range(batch.target.shape[0]):
            one = slice(index, index + 1)
            target, source = pair_features(extractor, batch.target[one], batch.source[one])
            grid = (target.shape[2], target.shape[3])
            truth, known = true_matches(batch.flow[one], batch.valid[one], grid, stride)
            results = match_with_rules(target, source, gocor=gocor, rules=rules, settings=settings)
            for name, result in results.items():
                errors.setdefault(name, []).append(endpoint_errors(result, truth, stride)[known])
                accepted.setdefault(name, []).append(result.accepted[known])
                confidences.setdefault(name, []).append(result.confidence[known])
            for name, value in _measures(global_correlation(target, source), settings).items():
                measured.setdefault(name, []).append(value[known])
        pooled = {name: torch.cat(values) for name, values in errors.items()}
        scores[set_name] = {
            name: _score(pooled[name], torch.cat(accepted[name]), stride) for name in pooled
        }
        curves[set_name] = {
            name: sparsification(pooled[name], torch.cat(confidences[name]), stride)
            for name in pooled
        }
        if "argmax" in pooled:
            measures[set_name] = {
                name: sparsification(pooled["argmax"], torch.cat(values), stride)
                for name, values in measured.items()
            }
    seconds = time.perf_counter() - started
    return RulesEvaluation(scores, curves, measures, stride, settings, seconds)


def held_out_rules(
    extractor: FeatureExtractor,
    sets: Sequence[str],
    *,
    pairs_per_image: int = 4,
    size: tuple[int, int] = (240, 320),
    gocor_weights: str | Path | None = None,
    settings: RuleSettings | None = None,
) -> RulesEvaluation:
    """:func:`evaluate_rules` on the evaluation sets of :mod:`gocor_lite.evaluation.sets` (the
    pairs of ``python -m gocor_lite.cli.evaluate``; sets whose files are missing are skipped), with
    global GOCor (3 iterations) twice: this project's trained parameters for ``extractor``
    where the file has them (``gocor``), and the paper's initial ones (``gocor (initial)``)."""
    gocor: dict[str, GlobalGOCor] = {}
    choices: tuple[tuple[GOCorParameters, str], ...] = (
        ("trained", "gocor"),
        ("initial", "gocor (initial)"),
    )
    for parameters, name in choices:
        module, trained = gocor_module("global", extractor.name, parameters, path=gocor_weights)
        if parameters == "initial" or trained:
            assert isinstance(module, GlobalGOCor)
            gocor[name] = module
    loaded, _ = load_sets(sets, pairs_per_image, size)
    data = {name: evaluation.pairs for name, evaluation in loaded.items()}
    return evaluate_rules(extractor, data, gocor=gocor, settings=settings)


# -- markdown ------------------------------------------------------------------------------------


def _number(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:.{digits}f}"  # NaN -> a dash


def rules_table(evaluation: RulesEvaluation) -> str:
    """One row per rule and set: PCK-cell, accepted, precision, AEPE, AUSE."""
    lines = [
        "| set | rule | PCK-cell | accepted | precision | AEPE px (accepted) | AUSE | cells |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for set_name, rows in evaluation.scores.items():
        for name, score in rows.items():
            curve = evaluation.curves[set_name][name]
            lines.append(
                f"| {set_name} | {name} | {_number(score.pck_cell)} | {_number(score.accepted)} | "
                f"{_number(score.precision)} | {_number(score.aepe, 2)} | "
                f"{_number(curve.ause)} | {score.count} |"
            )
    return "\n".join(lines)


def measures_table(evaluation: RulesEvaluation) -> str:
    """The confidence measures on the argmax's matches: % wrong among the most confident
    25 % / 50 % and AUSE, per set."""
    quarter, half = (
        int(np.argmin(np.abs(FRACTIONS - 0.25))),
        int(np.argmin(np.abs(FRACTIONS - 0.5))),
    )
    lines = [
        "| set | confidence of the argmax | % wrong, top 25 % | % wrong, top 50 % | "
        "% wrong, all | AUSE |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for set_name, curves in evaluation.measures.items():
        for name, curve in curves.items():
            lines.append(
                f"| {set_name} | {name} | {_number(curve.wrong[quarter])} | "
                f"{_number(curve.wrong[half])} | {_number(curve.wrong[-1])} | "
                f"{_number(curve.ause)} |"
            )
    return "\n".join(lines)


def rules_section(evaluation: RulesEvaluation, figure: str | None = None) -> str:
    """The markdown section of ``docs/evaluation.md`` on matching rules and confidence;
    ``figure``: the calibration figure's path relative to the document, if one was written."""
    settings = evaluation.settings
    text = [
        "## Matching rules: reading a match from one volume, and knowing when it is wrong",
        "",
        "`gocor_lite.reading.rules` on the global correlation of the same features (and the "
        "argmax of global GOCor's volume, 3 iterations), every target cell whose true match is "
        "known "
        f"({evaluation.seconds:.0f} s); "
        f"temperature {settings.temperature:g} (of soft-argmax, softmax, dual-softmax and "
        f"Sinkhorn), Sinkhorn with a dustbin score of {settings.dustbin_score:g} and "
        f"{settings.sinkhorn_iterations} iterations (defaults of `RuleSettings`, not tuned). "
        f"PCK-cell: % of cells matched within one cell ({evaluation.stride} px), a refused match "
        "counting as a miss; accepted: % of cells the rule does not refuse (mutual nearest "
        "neighbours and Sinkhorn's dustbin refuse); precision: % of the accepted matches within "
        "one cell; AEPE over the accepted matches. AUSE: the mean gap, in % wrong, between the "
        "rule's sparsification curve (keep the most confident x % by the rule's own confidence, "
        "count the wrong ones) and the oracle's (keep them in order of their true error); lower "
        "means the confidence knows its errors better.",
        "",
        rules_table(evaluation),
        "",
        "The three confidence measures of `gocor_lite.reading.confidence`, ranking the same argmax "
        "matches (peak ratio: best score over the best one more than a cell away; mass within "
        "one cell of the mode of softmax(scores / T); cycle error: how far target -> best "
        "source -> best target lands from the start, lower is surer):",
        "",
        measures_table(evaluation),
    ]
    if figure is not None:
        text += [
            "",
            f"![Sparsification curves: % of wrong matches among the most confident fraction, "
            f"per rule and set]({figure})",
        ]
    return "\n".join(text)


def corrected_pixel(
    pair: ExamplePair, extractor: FeatureExtractor, gocor: GlobalGOCor
) -> tuple[float, float] | None:
    """A target pixel where ``gocor``'s volume is right and global correlation is wrong, on
    ``pair``'s own images: the centre ``(x, y)`` (pixels) of the target cell nearest the
    image's centre whose argmax under ``gocor`` lies within one cell of the true match while
    correlation's argmax lies more than two cells away. ``None`` if the pair has no truth or
    no such cell. How the explorer opens on a pixel that shows what GOCor changes; beside it,
    the whole-image numbers (:func:`pair_rule_scores`) say how often that happens."""
    if pair.flow is None:
        return None
    target, source = pair_features(extractor, to_tensor(pair.target), to_tensor(pair.source))
    stride = extractor.stride
    truth, known = pair_truth(pair.flow, (target.shape[2], target.shape[3]), stride)
    results = match_with_rules(target, source, gocor={"gocor": gocor}, rules=("argmax",))
    correlation = endpoint_errors(results["argmax"], truth, stride)[0]
    optimised = endpoint_errors(results["gocor"], truth, stride)[0]
    telling = known[0] & (optimised < stride) & (correlation > 2 * stride)
    if not bool(telling.any()):
        return None
    x, y = central_cell(telling)
    return ((x + 0.5) * stride - 0.5, (y + 0.5) * stride - 0.5)


# -- where GOCor matters: the ambiguous cells ------------------------------------------------------


@dataclass(frozen=True)
class AmbiguitySplit:
    """Global correlation against global GOCor on one pair, the target cells split by
    correlation's own confidence: its peak ratio (:func:`gocor_lite.reading.confidence.peak_ratio`,
    exclusion radius 1) below the median of the counted cells is *ambiguous* (a second peak
    nearly as high: look-alikes), the rest *distinctive*.

    Shapes: ratio, correlation_right, gocor_right, known, ambiguous ``(h, w)`` (one pair).
    """

    threshold: float  # the median peak ratio over the counted cells
    scores: dict[str, dict[str, RuleScore]]  # "ambiguous"/"distinctive" -> "correlation"/"gocor"
    ratio: Tensor  # correlation's peak ratio per target cell
    correlation_right: Tensor  # correlation's argmax within one cell of the truth
    gocor_right: Tensor  # GOCor's argmax within one cell of the truth
    known: Tensor  # the cells that count (true match known)
    ambiguous: Tensor  # counted cells below the threshold

    @property
    def fixed(self) -> Tensor:
        """Counted cells GOCor gets right and correlation wrong, ``(h, w)``."""
        return self.known & self.gocor_right & ~self.correlation_right

    @property
    def broken(self) -> Tensor:
        """Counted cells correlation gets right and GOCor wrong, ``(h, w)``."""
        return self.known & self.correlation_right & ~self.gocor_right


def ambiguous_cells(ratio: Tensor, counted: Tensor) -> tuple[float, Tensor]:
    """The split of :class:`AmbiguitySplit`: the median of correlation's peak ``ratio`` over
    the ``counted`` cells (``(h, w)`` bool, at least one), and the counted cells below it
    (``(h, w)`` bool): the *ambiguous* half (ties at the median count as distinctive).

    >>> ratio = torch.tensor([[1.0, 3.0], [2.0, 9.0]])
    >>> threshold, ambiguous = ambiguous_cells(ratio, torch.tensor([[True, True], [True, False]]))
    >>> threshold, ambiguous.tolist()
    (2.0, [[True, False], [False, False]])
    """
    if not bool(counted.any()):
        raise ValueError("no counted cell to split")
    threshold = float(ratio[counted].median())
    return threshold, counted & (ratio < threshold)


def ambiguity_split(
    pair: ExamplePair, extractor: FeatureExtractor, gocor: GlobalGOCor
) -> AmbiguitySplit:
    """:class:`AmbiguitySplit` of one pair with ground truth (its own size), on the centred,
    L2-normalised features :func:`pair_features` gives. Raises ``ValueError`` if the pair has
    no flow or fewer than two counted cells."""
    if pair.flow is None:
        raise ValueError(f"pair {pair.name!r} has no ground-truth flow to score against")
    target, source = pair_features(extractor, to_tensor(pair.target), to_tensor(pair.source))
    stride = extractor.stride
    truth, known = pair_truth(pair.flow, (target.shape[2], target.shape[3]), stride)
    results = match_with_rules(target, source, gocor={"gocor": gocor}, rules=("argmax",))
    with torch.no_grad():
        ratio = peak_ratio(global_correlation(target, source))[0]  # (h, w)
    counted = known[0]
    if int(counted.sum()) < 2:
        raise ValueError(f"pair {pair.name!r} has fewer than two cells with a known truth")
    threshold, ambiguous = ambiguous_cells(ratio, counted)
    errors = {
        "correlation": endpoint_errors(results["argmax"], truth, stride)[0],
        "gocor": endpoint_errors(results["gocor"], truth, stride)[0],
    }
    accepted = torch.ones_like(counted)
    scores = {
        group: {name: _score(error[mask], accepted[mask], stride) for name, error in errors.items()}
        for group, mask in (("ambiguous", ambiguous), ("distinctive", counted & ~ambiguous))
    }
    return AmbiguitySplit(
        threshold=threshold,
        scores=scores,
        ratio=ratio,
        correlation_right=errors["correlation"] < stride,
        gocor_right=errors["gocor"] < stride,
        known=counted,
        ambiguous=ambiguous,
    )


def ambiguity_section(splits: Mapping[str, AmbiguitySplit], extractor: str) -> str:
    """The markdown of :func:`ambiguity_split` on several pairs: per pair and group, the %
    of cells global correlation and trained global GOCor match within one cell."""
    lines = [
        "## Where GOCor matters: the ambiguous cells",
        "",
        f"Global correlation against trained global GOCor (3 iterations) on `{extractor}` "
        "features, each real pair at 320 px, its target cells split at the median of "
        "correlation's peak ratio (best score over the best outside its 3x3 neighbourhood): "
        "below it *ambiguous* (look-alikes score nearly as high), above it *distinctive*. "
        "% of the cells matched within one cell "
        "(`gocor_lite.evaluation.rule_scores.ambiguity_split`; "
        "fixed: GOCor right where correlation is wrong; broken: the reverse).",
        "",
        "| pair | median ratio | ambiguous: correlation | ambiguous: GOCor | distinctive: "
        "correlation | distinctive: GOCor | fixed | broken |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, split in splits.items():
        amb, dis = split.scores["ambiguous"], split.scores["distinctive"]
        lines.append(
            f"| {name} | {split.threshold:.2f} | {amb['correlation'].pck_cell:.1f} | "
            f"{amb['gocor'].pck_cell:.1f} | {dis['correlation'].pck_cell:.1f} | "
            f"{dis['gocor'].pck_cell:.1f} | {int(split.fixed.sum())} | "
            f"{int(split.broken.sum())} |"
        )
    return "\n".join(lines) + "\n"
