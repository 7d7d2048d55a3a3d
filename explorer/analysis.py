# SPDX-License-Identifier: MIT
"""The explorer's whole-image numbers: every matching rule on the pair's global correlation,
how accurate each method is over the whole pair, and how sure each match is.

Computed once per pair and settings, with the volumes (:meth:`explorer.pipeline.Pipeline.
compute` calls :func:`analyse`), from the volumes it already holds; every number comes from
:mod:`gocor_lite` (:mod:`gocor_lite.reading.rules`, :mod:`gocor_lite.reading.confidence`,
:mod:`gocor_lite.evaluation`). No user interface here: :mod:`explorer.rules_render` draws it.

Convention:
    As in :mod:`gocor_lite.reading.rules`: matches are source *cells* ``(2, h, w)`` (x then y) on
    the target grid (the batch dimension dropped); a match is *right* when its cell centre is within
    one feature cell (``stride`` px) of the true match; a refused match (mutual nearest
    neighbours, Sinkhorn's dustbin) counts as a miss. Confidences are stored as each measure
    gives them; :data:`SURER_WHEN_HIGHER` says which way each one points.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from gocor_lite.core.grid import cell_to_pixel
from gocor_lite.evaluation.metrics import score
from gocor_lite.evaluation.rule_scores import RuleScore, ambiguous_cells, pair_truth, score_rules
from gocor_lite.reading.confidence import cycle_error, mass_within
from gocor_lite.reading.matching import all_window_sources, best_match, local_best_match
from gocor_lite.reading.rules import (
    RULES,
    RuleResult,
    RuleSettings,
    read_rule,
    read_rules,
    softmax_probability,
)

#: The rules of :mod:`gocor_lite.reading.rules` the explorer reads the global correlation with.
EXPLORER_RULES: tuple[str, ...] = RULES
#: The volumes whose matches the confidence view ranks.
CONFIDENCE_VOLUMES: tuple[str, ...] = ("global correlation", "global GOCor")
#: The confidence measures of :mod:`gocor_lite.reading.confidence`, by their names on the page.
CONFIDENCE_MEASURES: tuple[str, ...] = (
    "peak ratio",
    "mass within 1 cell",
    "forward-backward error",
)
#: Whether a higher value of each measure means a surer match (the error: lower is surer).
SURER_WHEN_HIGHER: dict[str, bool] = {
    "peak ratio": True,
    "mass within 1 cell": True,
    "forward-backward error": False,
}
MASS_RADIUS = 1  # cells around the match counted by "mass within 1 cell"


@dataclass(frozen=True)
class WholeImageScore:
    """One method's numbers over every target cell whose true match is known (percentages)."""

    within_cell: float  # % of the counted cells matched within one cell (a refusal is a miss)
    accepted: float  # % of the counted cells the method matches (does not refuse)
    precision: float  # % of the accepted matches within one cell (NaN if none is accepted)
    aepe: float  # mean endpoint error of the accepted matches, pixels (NaN if none)
    count: int  # counted target cells

    @classmethod
    def of_rule(cls, rule: RuleScore) -> WholeImageScore:
        return cls(rule.pck_cell, rule.accepted, rule.precision, rule.aepe, rule.count)


@dataclass(frozen=True)
class AmbiguityGroups:
    """The counted cells split by the global correlation's peak ratio at its median
    (:func:`gocor_lite.evaluation.rule_scores.ambiguous_cells`: below it a second peak is nearly as
    high, *ambiguous*; the rest *distinctive*), and how global correlation and global GOCor do
    on each half. Shapes: ratio, ambiguous ``(h, w)``."""

    threshold: float  # the median peak ratio of the counted cells
    ratio: Tensor  # the global correlation's peak ratio per target cell
    ambiguous: Tensor  # counted cells below the threshold
    correlation: dict[str, WholeImageScore]  # "ambiguous" / "distinctive" -> argmax's score
    gocor: list[dict[str, WholeImageScore]]  # the same for global GOCor, iterations 0..K


@dataclass(frozen=True)
class Analysis:
    """Everything the explorer shows beside one pixel, for the whole pair.

    Shapes (``h, w`` target grid, ``h', w'`` source grid, batch of one dropped only where
    said): rules' fields as :class:`~gocor_lite.reading.rules.RuleResult` with ``B = 1``; matches
    ``(2, h, w)`` source cells; truth ``(2, h, w)`` source pixels of the target cell centres,
    known ``(h, w)``; reach ``(h, w)``; confidences ``(h, w)``.
    """

    rules: dict[str, RuleResult]  # EXPLORER_RULES on the correlation, then "gocor" (iteration K)
    local_matches: Tensor  # local correlation's best source cells (NaN: no entry on the source)
    gocor_local_matches: list[Tensor]  # local GOCor's, iterations 0..K
    gocor_global_matches: list[Tensor]  # global GOCor's (argmax), iterations 0..K
    truth: Tensor | None  # None without ground truth
    known: Tensor | None
    reach: Tensor | None  # the local window reads a source cell within one cell of the truth
    scores: dict[str, WholeImageScore]  # by method name (see method_names); empty without truth
    gocor_global_scores: list[WholeImageScore]  # iterations 0..K; empty without truth
    gocor_local_scores: list[WholeImageScore]
    ambiguity: AmbiguityGroups | None  # None without ground truth
    matches: dict[str, Tensor]  # CONFIDENCE_VOLUMES -> their argmax matches
    confidence: dict[tuple[str, str], Tensor]  # (volume, measure) -> the measure per cell
    stride: int
    seconds: float  # time the analysis took

    @property
    def nbytes(self) -> int:
        """Memory held by the rules' own maps (maps shared with the volumes are not counted)."""
        seen: set[int] = set()
        total = 0
        for name, result in self.rules.items():
            if name in ("argmax", "mutual", "gocor") or id(result.scores) in seen:
                continue  # the correlation or GOCor's volume itself
            seen.add(id(result.scores))
            total += result.scores.numel() * result.scores.element_size()
        return total

    def rule_match(self, name: str, cell: tuple[int, int]) -> tuple[tuple[float, float], bool]:
        """Rule ``name``'s match of target ``cell = (x, y)`` in source pixels (cell centres;
        fractional for soft-argmax) and whether the rule accepts it."""
        x, y = cell
        result = self.rules[name]
        position = cell_to_pixel(result.matches[0, :, y, x].double(), self.stride)
        return (float(position[0]), float(position[1])), bool(result.accepted[0, y, x])

    def surer_first(self, volume: str, measure: str) -> Tensor:
        """The measure turned so that higher is surer, ``(h, w)`` float64."""
        value = self.confidence[(volume, measure)].to(torch.float64)
        return value if SURER_WHEN_HIGHER[measure] else -value


def method_names(num_iter: int, iteration: int) -> list[str]:
    """The methods of the whole-image table, in order: the four panels' methods at the shown
    GOCor ``iteration``, then every other rule."""
    return [
        "local correlation",
        "global correlation (argmax)",
        f"GOCor global, iteration {min(iteration, num_iter)}",
        f"GOCor local, iteration {min(iteration, num_iter)}",
        *(rule for rule in EXPLORER_RULES if rule != "argmax"),
    ]


def _scores_of_matches(
    matches: Tensor, truth: Tensor, known: Tensor, stride: int
) -> WholeImageScore:
    """Whole-image numbers of matches every cell has (NaN: none, a miss)."""
    found = torch.isfinite(matches).all(dim=0)
    counted = known & found
    if not bool(counted.any()):
        return WholeImageScore(0.0, 0.0, math.nan, math.nan, int(known.sum()))
    pixels = cell_to_pixel(matches.nan_to_num(0.0).double(), stride)[None]
    metrics = score(pixels, truth[None].double(), counted[None], stride)
    count = int(known.sum())
    right = metrics.pck_cell * metrics.count / 100.0
    return WholeImageScore(
        within_cell=100.0 * right / count,
        accepted=100.0 * metrics.count / count,
        precision=metrics.pck_cell,
        aepe=metrics.aepe,
        count=count,
    )


def _ambiguity(
    ratio: Tensor,
    matches: dict[str, Tensor],
    gocor_global: list[Tensor],
    truth: Tensor,
    known: Tensor,
    stride: int,
) -> AmbiguityGroups:
    threshold, ambiguous = ambiguous_cells(ratio, known)
    groups = {"ambiguous": ambiguous, "distinctive": known & ~ambiguous}

    def split(found: Tensor) -> dict[str, WholeImageScore]:
        return {
            name: _scores_of_matches(found, truth, mask, stride) for name, mask in groups.items()
        }

    return AmbiguityGroups(
        threshold=threshold,
        ratio=ratio,
        ambiguous=ambiguous,
        correlation=split(matches["global correlation"]),
        gocor=[split(found) for found in gocor_global],
    )


@torch.no_grad()
def analyse(
    correlation: Tensor,
    global_volumes: list[Tensor],
    local: Tensor,
    local_volumes: list[Tensor],
    coarse_matches: Tensor | None,
    search_radius: int,
    stride: int,
    flow: object | None,
    settings: RuleSettings | None = None,
) -> Analysis:
    """Every rule and confidence measure on a pair's volumes, and whole-image scores where its
    ground truth ``flow`` ``(2, H, W)`` (NaN where unknown) is given.

    Shapes: correlation ``(h, w, h', w')``, global GOCor's volumes ``(h, w, h', w')`` per
    iteration, local volumes ``(h, w, 2R+1, 2R+1)`` (plain, then local GOCor's per iteration),
    coarse_matches ``(2, h, w)`` or ``None`` (windows at the same position).
    """
    started = time.perf_counter()
    settings = RuleSettings() if settings is None else settings
    volume = correlation[None]  # (1, h, w, h', w')
    height, width, source_height, source_width = correlation.shape
    rules = read_rules(volume, EXPLORER_RULES, settings)
    if "softmax" in rules and "soft-argmax" in rules:  # the same distribution: keep one copy
        shared = rules["soft-argmax"].scores
        if torch.equal(rules["softmax"].scores, shared):
            rules["softmax"] = dataclasses.replace(rules["softmax"], scores=shared)
    gocor = global_volumes[-1][None]
    rules["gocor"] = read_rule("gocor", gocor, settings)  # global GOCor's argmax, iteration K
    coarse = None if coarse_matches is None else coarse_matches[None]
    source_grid = (source_height, source_width)
    local_matches = local_best_match(local[None], source_grid, coarse)[0]
    gocor_local = [local_best_match(item[None], source_grid, coarse)[0] for item in local_volumes]
    gocor_global = [best_match(item[None])[0] for item in global_volumes]
    matches = {"global correlation": rules["argmax"].matches[0], "global GOCor": gocor_global[-1]}
    confidence: dict[tuple[str, str], Tensor] = {}
    for name, argmax, probability in (
        ("global correlation", rules["argmax"], rules["soft-argmax"].scores),
        ("global GOCor", rules["gocor"], None),
    ):
        if probability is None:
            probability = softmax_probability(argmax.scores, settings.temperature)
        # The argmax's own confidence is the peak ratio (gocor_lite.reading.rules.read_rule).
        confidence[(name, "peak ratio")] = argmax.confidence[0]
        confidence[(name, "mass within 1 cell")] = mass_within(probability, MASS_RADIUS)[0]
        confidence[(name, "forward-backward error")] = cycle_error(argmax.scores)[0]

    truth = known = reach = None
    ambiguity = None
    scores: dict[str, WholeImageScore] = {}
    global_scores: list[WholeImageScore] = []
    local_scores: list[WholeImageScore] = []
    if flow is not None:
        true_pixels, known_cells = pair_truth(flow, (height, width), stride)  # type: ignore[arg-type]
        truth, known = true_pixels[0].to(correlation.dtype), known_cells[0]
        if bool(known.any()):
            grid = source_grid if coarse_matches is None else (height, width)
            sources = all_window_sources((height, width), search_radius, grid, coarse_matches)
            centres = cell_to_pixel(sources.to(truth.dtype), stride)  # (h, w, S, S, 2)
            distance = (centres - truth.permute(1, 2, 0)[:, :, None, None]).norm(dim=-1)
            reach = ((distance < stride) & (sources[..., 0] >= 0)).flatten(2).any(-1) & known
            rule_scores = score_rules(rules, true_pixels, known_cells, stride)
            scores = {name: WholeImageScore.of_rule(value) for name, value in rule_scores.items()}
            scores["global correlation (argmax)"] = scores["argmax"]
            scores["local correlation"] = _scores_of_matches(local_matches, truth, known, stride)
            global_scores = [_scores_of_matches(m, truth, known, stride) for m in gocor_global]
            local_scores = [_scores_of_matches(m, truth, known, stride) for m in gocor_local]
            ambiguity = _ambiguity(
                confidence[("global correlation", "peak ratio")],
                matches,
                gocor_global,
                truth,
                known,
                stride,
            )
        else:
            truth = known = None
    return Analysis(
        rules=rules,
        local_matches=local_matches,
        gocor_local_matches=gocor_local,
        gocor_global_matches=gocor_global,
        truth=truth,
        known=known,
        reach=reach,
        scores=scores,
        gocor_global_scores=global_scores,
        gocor_local_scores=local_scores,
        ambiguity=ambiguity,
        matches=matches,
        confidence=confidence,
        stride=stride,
        seconds=time.perf_counter() - started,
    )
