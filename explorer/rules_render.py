# SPDX-License-Identifier: MIT
"""The explorer's view of the matching rules and of confidence: pictures and texts drawn from
:class:`explorer.analysis.Analysis` (numpy and Pillow, through :mod:`explorer.render`).

* :func:`rules_panel`: every rule's map for the clicked cell, side by side, each with where its
  match lands (✚), the true match (◯) and the rule's own confidence;
* :func:`accuracy_table`: every method's whole-image accuracy on the pair (or why there is none),
  so that one favourable pixel never stands for a method; :func:`window_note`: whether the
  clicked pixel's local window can reach its true match;
* :class:`ConfidenceChoice` and :func:`confidence_pictures`: a confidence measure over the
  target, and the matches with the least confident ones hidden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from explorer import render
from explorer.analysis import (
    CONFIDENCE_MEASURES,
    CONFIDENCE_VOLUMES,
    EXPLORER_RULES,
    SURER_WHEN_HIGHER,
    Analysis,
    WholeImageScore,
    method_names,
)
from explorer.pipeline import Computed, InputError, Probe, ScoreMap
from gocor_lite.core.grid import cell_grid, cell_to_pixel
from gocor_lite.pictures.flow_colours import flow_to_colour

RULE_TILE_SIDE = 280  # px: each rule's map is enlarged (integer factor) to at least this side
RULE_COLUMNS = 4
MAX_HIDDEN = 95  # % of the matches the confidence threshold may hide
#: Each rule's title in the panel (the rules of :mod:`gocor_lite.reading.rules`, then GOCor).
RULE_TITLES: dict[str, str] = {
    "argmax": "argmax (global correlation)",
    "soft-argmax": "soft-argmax (T = 0.05)",
    "softmax": "softmax probability",
    "dual-softmax": "dual-softmax",
    "mutual": "mutual nearest neighbours",
    "cyclic": "cyclic consistency (GLU-Net)",
    "sinkhorn": "Sinkhorn with a dustbin",
    "gocor": "GOCor global (argmax)",
}
#: What each rule's confidence is, in the panel's captions.
CONFIDENCE_NAMES: dict[str, str] = {
    "argmax": "peak ratio",
    "soft-argmax": "mass within 1 cell",
    "softmax": "probability",
    "dual-softmax": "dual probability",
    "mutual": "peak ratio",
    "cyclic": "filtered score",
    "sinkhorn": "transported mass",
    "gocor": "peak ratio",
}
CONFIDENCE_CMAP = "viridis"  # never black: black marks the hidden matches
# What each measure's colours run over in the confidence map (the "surer" direction bright),
# and the two lines of its legend.
_CONFIDENCE_RANGES: dict[str, tuple[float, float]] = {
    "peak ratio": (1.0, 1.5),
    "mass within 1 cell": (0.0, 1.0),
    "forward-backward error": (-4.0, 0.0),  # minus the error in cells: 0 brightest
}
_CONFIDENCE_LEGENDS: dict[str, str] = {
    "peak ratio": "dark: 1 (a look-alike as high)\nbright: 1.5 or more\nblack: hidden",
    "mass within 1 cell": "dark: 0 (belief spread out)\nbright: 1 (all near the match)\n"
    "black: hidden",
    "forward-backward error": "dark: 4 cells or more\nbright: 0 (mutual neighbours)\nblack: hidden",
}


# -- the rules, side by side -----------------------------------------------------------------------
def rule_tile_scale(image: np.ndarray) -> int:
    return max(1, math.ceil(RULE_TILE_SIDE / max(image.shape[:2])))


def rules_panel(computed: Computed, probe: Probe) -> np.ndarray:
    """Every rule's map over the source for the probed cell, in rows of :data:`RULE_COLUMNS`.

    Each map is coloured on its own range (they are scores, probabilities or transported mass);
    ✚ marks the rule's match (◆ the soft-argmax's, between cells), ◯ the true match; the
    caption says where the match lands, its error, and the rule's confidence, or that the rule
    refuses to match this cell.
    """
    analysis = computed.analysis
    x, y = probe.cell
    scale = rule_tile_scale(computed.pair.source)
    tiles = []
    for name, result in analysis.rules.items():
        scores = result.scores[0, y, x].detach().float().cpu().numpy()
        best, accepted = analysis.rule_match(name, probe.cell)
        error = None if probe.true_match is None else math.dist(best, probe.true_match)
        finite = scores[np.isfinite(scores)]
        peak = float(finite.max()) if finite.size else math.nan
        title = RULE_TITLES[name]
        if name == "gocor":
            title = f"GOCor global, iteration {computed.num_iter}"
        item = ScoreMap(title, scores, best, peak, error)
        confidence = float(result.confidence[0, y, x])
        where = f"({best[0]:.0f}, {best[1]:.0f})"
        if accepted:
            first = f"match {where}" + ("" if error is None else f" · error {error:.0f} px")
        else:
            first = f"refused (best {where}" + ("" if error is None else f", {error:.0f} px off")
            first += ")"
        caption = f"{first}\n{CONFIDENCE_NAMES[name]} {_number(confidence)}"
        tiles.append(
            render.panel(
                computed,
                probe,
                item,
                render.COLOUR_SCALES[0],
                caption,
                scale,
                estimate=name == "soft-argmax",  # its match lies between cells
            )
        )
    return _tiled(tiles, RULE_COLUMNS)


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if abs(value) >= 1000:
        return f"{value:.0e}"
    return f"{value:.3g}"


def _tiled(tiles: list[np.ndarray], columns: int, gap: int = 6) -> np.ndarray:
    """Tiles in rows of ``columns``, on white, ``gap`` px apart."""
    height = max(tile.shape[0] for tile in tiles)
    width = max(tile.shape[1] for tile in tiles)
    rows = -(-len(tiles) // columns)
    canvas = np.full(
        (rows * height + (rows - 1) * gap, columns * width + (columns - 1) * gap, 3), 255, np.uint8
    )
    for index, tile in enumerate(tiles):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        canvas[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
    return canvas


# -- whole-image accuracy ------------------------------------------------------------------------
def _percent(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.1f}%"


def _pixels(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.1f}"


def whole_image_scores(computed: Computed, iteration: int) -> dict[str, WholeImageScore]:
    """Every method's whole-image score by the table's names (:func:`method_names`, the GOCor
    rows at ``iteration``), in the table's order; empty without ground truth."""
    analysis = computed.analysis
    if not analysis.scores:
        return {}
    iteration = min(max(iteration, 0), computed.num_iter)
    names = method_names(computed.num_iter, iteration)
    scores = dict(analysis.scores)
    scores[names[2]] = analysis.gocor_global_scores[iteration]
    scores[names[3]] = analysis.gocor_local_scores[iteration]
    return {name: scores[name] for name in names}


def accuracy_table(computed: Computed, iteration: int, title: str) -> str:
    """Markdown: every method's accuracy over the whole pair (the GOCor rows at the shown
    ``iteration``), or a sentence saying why there is none; and how often the local windows
    can reach the true match."""
    analysis = computed.analysis
    if not analysis.scores:
        return (
            f"**Whole image of {title}:** no ground truth for this pair, so no method's "
            "accuracy can be measured here. The gallery's pairs all have it; so does a "
            "synthetic warp of these images (the Synthetic tab)."
        )
    scores = whole_image_scores(computed, iteration)
    count = analysis.scores["argmax"].count
    rows = [
        f"**The whole of {title}**, not one pixel: its {count} target cells whose true match "
        f"is known. Right: within one cell ({analysis.stride} px) of it (a refusal is a miss); "
        "matched: not refused; error: mean endpoint error of the matched, px.",
        "",
        "| method | right | matched | right of matched | error |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, score in scores.items():
        label = RULE_TITLES.get(name, name) if name in EXPLORER_RULES else name
        rows.append(
            f"| {label} | {_percent(score.within_cell)} | {_percent(score.accepted)} | "
            f"{_percent(score.precision)} | {_pixels(score.aepe)} |"
        )
    rows += ["", _reach_sentence(computed), "", ambiguity_table(computed, iteration)]
    return "\n".join(rows)


def ambiguity_table(computed: Computed, iteration: int) -> str:
    """Markdown: where GOCor matters on this pair: the counted cells split by the global
    correlation's peak ratio at its median, the % right of global correlation and of global
    GOCor (the shown ``iteration``) on each half, and the difference."""
    split = computed.analysis.ambiguity
    if split is None:
        return ""
    iteration = min(max(iteration, 0), computed.num_iter)
    rows = [
        f"**Where GOCor matters on this pair:** its cells split by the global correlation's "
        f"peak ratio (best score over the best outside its 3×3 cells) at the median, "
        f"{split.threshold:.2f}. Below it a look-alike scores nearly as high as the best: "
        "*ambiguous*. % of each half matched within one cell:",
        "",
        f"| cells | count | global correlation | GOCor global, iteration {iteration} | GOCor − "
        "correlation |",
        "|---|---:|---:|---:|---:|",
    ]
    for group in ("ambiguous", "distinctive"):
        before = split.correlation[group]
        after = split.gocor[iteration][group]
        gain = after.within_cell - before.within_cell
        rows.append(
            f"| {group} (peak ratio {'below' if group == 'ambiguous' else 'at or above'} "
            f"{split.threshold:.2f}) | {before.count} | {_percent(before.within_cell)} | "
            f"{_percent(after.within_cell)} | "
            f"{'–' if before.count == 0 else f'{gain:+.1f} points'} |"
        )
    return "\n".join(rows)


def ambiguity_note(computed: Computed, cell: tuple[int, int]) -> str:
    """A sentence placing the clicked cell in the split of :func:`ambiguity_table`."""
    split = computed.analysis.ambiguity
    known = computed.analysis.known
    x, y = cell
    if split is None or known is None:
        return ""
    ratio = float(split.ratio[y, x])
    if not bool(known[y, x]):
        return (
            f"\n\nThis pixel's peak ratio is {ratio:.2f}; its true match is unknown, so it is "
            "in neither half of the pair's split (below)."
        )
    half = "ambiguous" if bool(split.ambiguous[y, x]) else "distinctive"
    side = "below" if half == "ambiguous" else "at or above"
    return (
        f"\n\nThis pixel's global-correlation peak ratio is {ratio:.2f}, {side} the pair's "
        f"median {split.threshold:.2f}: one of its **{half}** cells. One pixel shows how "
        "GOCor treats it; whether GOCor helps is a question for the whole half (*Where GOCor "
        "matters*, at the foot of the whole-image table beside this one)."
    )


def _reach_sentence(computed: Computed) -> str:
    analysis = computed.analysis
    if analysis.reach is None or analysis.known is None:
        return ""
    reach = 100.0 * float(analysis.reach.sum()) / max(1, int(analysis.known.sum()))
    radius = computed.settings.search_radius
    centre = computed.settings.local_centre
    where = "on the coarse flow" if centre == "coarse flow" else "at the same position"
    sentence = (
        f"Local windows (R = {radius} cells, centred {where}) reach the true match of "
        f"{reach:.0f} % of the cells: no local method can be right more often."
    )
    if centre == "coarse flow":
        sentence += (
            " Centred on the global correlation's matches, local correlation of these same "
            "features finds those matches again (its window holds each one, and nothing in it "
            "scores higher); local windows pay off at GLU-Net's finer levels (the flow view), "
            "and local GOCor can move away from them."
        )
    elif reach < 50:
        sentence += (
            " The shift of this pair is larger than the window: centre the windows on the "
            "coarse flow (Settings), as GLU-Net does."
        )
    return sentence


def window_note(computed: Computed, cell: tuple[int, int], probe: Probe | None = None) -> str:
    """A sentence when the clicked cell's local window cannot reach its true match (none of
    the source cells it reads lies within one cell of it), with the local methods' errors of
    ``probe`` (the table beside it): said only when those errors agree (both a cell or more)."""
    reach = computed.analysis.reach
    known = computed.analysis.known
    x, y = cell
    if reach is None or known is None or not bool(known[y, x]) or bool(reach[y, x]):
        return ""
    stride = computed.stride
    errors = [] if probe is None else [probe.local_correlation.error, probe.gocor_local.error]
    if any(error is None or error < stride for error in errors):
        return ""  # the table's own numbers would contradict the sentence
    where = (
        "its coarse match"
        if computed.settings.local_centre == "coarse flow"
        else "the same position (Settings: centre it on the coarse flow)"
    )
    numbers = (
        f" (in the table: local correlation {errors[0]:.1f} px, local GOCor {errors[1]:.1f} px "
        "from it)"
        if errors
        else ""
    )
    return (
        f"\n\nThis pixel's true match lies outside its local window: none of the source cells "
        f"the window reads (R = {computed.settings.search_radius} cells around {where}) lies "
        f"within one cell ({stride} px) of it, so local correlation and local GOCor cannot "
        f"come that close here{numbers}."
    )


# -- confidence ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfidenceChoice:
    """The confidence view's settings: whose matches, which measure, how many to hide."""

    volume: str = CONFIDENCE_VOLUMES[0]  # one of CONFIDENCE_VOLUMES
    measure: str = CONFIDENCE_MEASURES[0]  # one of CONFIDENCE_MEASURES
    hidden: int = 25  # % of the matches hidden, the least confident first: 0..MAX_HIDDEN

    def __post_init__(self) -> None:
        if self.volume not in CONFIDENCE_VOLUMES:
            raise InputError(f"the matches must be those of {' or '.join(CONFIDENCE_VOLUMES)}")
        if self.measure not in CONFIDENCE_MEASURES:
            raise InputError(
                f"the confidence measure must be one of {', '.join(CONFIDENCE_MEASURES)}"
            )
        value = self.hidden
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_HIDDEN:
            raise InputError(
                f"the share of matches to hide must be a whole number from 0 to {MAX_HIDDEN} %"
            )


def kept_cells(analysis: Analysis, choice: ConfidenceChoice) -> tuple[torch.Tensor, float]:
    """Which target cells keep their match: all but the ``choice.hidden`` % least confident
    (fewer where several cells tie at the threshold: tied cells are kept or hidden together).
    Returns ``(h, w)`` bool and the threshold (in the measure's own units; cells whose measure
    is on the unsure side of it are hidden)."""
    surer = analysis.surer_first(choice.volume, choice.measure)
    values = surer.flatten()
    count = math.floor(choice.hidden / 100 * values.numel())
    ranked = torch.sort(values).values  # least confident first
    threshold = float(ranked[count])  # the least confident kept (count < every cell)
    kept = surer >= threshold
    shown = threshold if SURER_WHEN_HIGHER[choice.measure] else -threshold
    return kept, shown


@dataclass(frozen=True)
class ConfidencePictures:
    """The confidence view: the measure over the target, the matches with the unsure ones
    hidden, and what they say in words (markdown)."""

    confidence: np.ndarray
    matches: np.ndarray
    text: str


def confidence_pictures(computed: Computed, choice: ConfidenceChoice) -> ConfidencePictures:
    """The chosen measure over the target image (hidden cells black), the chosen volume's
    matches as flow colours (see the flow view's wheel; hidden ones black), and the accuracy
    of the kept and the hidden matches where the truth is known."""
    analysis = computed.analysis
    kept, threshold = kept_cells(analysis, choice)
    image = computed.pair.target
    stride = computed.stride
    scale = render.display_scale(image)
    surer = analysis.surer_first(choice.volume, choice.measure).float().numpy()
    hidden = ~kept.numpy()
    coloured = np.array(  # a copy: the hidden cells are painted on it
        render.overlay(
            image,
            np.where(hidden, np.nan, surer),
            stride,
            _CONFIDENCE_RANGES[choice.measure],
            scale=scale,
            cmap=CONFIDENCE_CMAP,
        )
    )
    block = np.ones((stride * scale, stride * scale), bool)
    coloured[np.kron(hidden, block)] = 0  # hidden cells black
    confidence = _captioned(coloured, scale, choice.measure, _CONFIDENCE_LEGENDS[choice.measure])

    matches = analysis.matches[choice.volume]  # (2, h, w) source cells
    height, width = matches.shape[1:]
    cells = cell_to_pixel(cell_grid(height, width, like=matches), stride)
    flow = cell_to_pixel(matches, stride) - cells  # (2, h, w) px at the cell centres
    # One colour scale per pair: the longest true shift where known (as the flow view), else
    # the 95th percentile of the matches' lengths (a few far-off matches would wash it out).
    if analysis.truth is not None and analysis.known is not None:
        limit = float((analysis.truth - cells).norm(dim=0)[analysis.known].max())
    else:
        limit = float(torch.quantile(flow.norm(dim=0).flatten().float(), 0.95))
    limit = limit if limit > 0 else 1.0
    hidden_flow = torch.where(kept[None], flow, torch.full_like(flow, float("nan")))
    colours = flow_to_colour(hidden_flow, max_magnitude=limit)  # (h, w, 3), hidden: black
    blocks = np.repeat(np.repeat(colours, stride * scale, axis=0), stride * scale, axis=1)
    picture = _captioned(
        blocks,
        scale,
        f"matches: {choice.volume}",
        f"colour: direction and length (the\nflow view's wheel, {limit:.0f} px)\nblack: hidden",
    )
    return ConfidencePictures(
        confidence, picture, _confidence_text(computed, choice, kept, threshold)
    )


def _captioned(picture: np.ndarray, scale: int, title: str, caption: str) -> np.ndarray:
    marks = render.Marks(picture, scale)
    marks.title(title)
    marks.caption(caption)
    return marks.array()


def _confidence_text(
    computed: Computed, choice: ConfidenceChoice, kept: torch.Tensor, threshold: float
) -> str:
    analysis = computed.analysis
    total = kept.numel()
    hidden = total - int(kept.sum())
    side = "below" if SURER_WHEN_HIGHER[choice.measure] else "above"
    lines = [
        f"**{choice.measure}** of {choice.volume}'s matches. Hidden: {hidden} of {total} "
        f"cells ({100 * hidden / total:.0f} %, the least confident: {choice.measure} {side} "
        f"{_number(threshold)})."
    ]
    if analysis.truth is None or analysis.known is None:
        lines.append(
            "No ground truth for this pair: whether hiding removes wrong matches is unknown."
        )
        return " ".join(lines)
    truth, known = analysis.truth, analysis.known
    matches = analysis.matches[choice.volume]
    error = (cell_to_pixel(matches, computed.stride) - truth).norm(dim=0)
    right = (error < computed.stride) & known

    def share(mask: torch.Tensor) -> str:
        counted = int((mask & known).sum())
        if counted == 0:
            return "none counted"
        return f"{100 * int((right & mask).sum()) / counted:.0f} % right ({counted} cells)"

    lines.append(
        f"Where the truth is known: kept {share(kept)}, hidden {share(~kept)}, all "
        f"{share(torch.ones_like(kept))}. A confidence that knows its errors hides wrong "
        "matches first."
    )
    return " ".join(lines)
