# SPDX-License-Identifier: MIT
"""Notebook 2's exercises: one cell's peak ratio by hand, and the whole-image accuracy.

Each instance is chosen so that a usual mistake changes the answer:

* the peak ratio (:func:`gocor_lite.reading.confidence.peak_ratio`, ``exclusion_radius=1``) leaves
  out the 3x3 box around the best cell (``max(|dx|, |dy|) <= 1``): a map whose highest competitor
  is a *diagonal* neighbour of the best refuses a 4-neighbour or Euclidean (``<= 1``)
  exclusion; one whose competitor is two cells away along a row refuses a wider exclusion,
  and one whose competitor is two cells away along a column refuses an exclusion of whole
  rows or whole columns (``|dx| > 1`` or ``|dy| > 1`` alone);
  a best cell in a corner refuses a slice that wraps around or comes out empty at the border
  (``scores[y - 1 : y + 2]`` at ``y = 0``); a map that is not square refuses a flat index
  unravelled with the wrong side;
* the % of cells right counts only the cells whose true match is known (finite error), a
  match exactly one cell off as wrong (``error < stride``, strictly), and takes the stride
  it is given.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gocor_lite.evaluation.rule_scores import _score
from gocor_lite.exercises.grading import Exercise, Instance
from gocor_lite.reading.confidence import peak_ratio


def _one_map_ratio(scores: Tensor) -> Tensor:
    """The library's peak ratio of one score map ``(h', w')`` (a one-cell volume)."""
    return peak_ratio(scores[None, None, None], exclusion_radius=1)[0, 0, 0]


def _score_map(height: int, width: int, seed: int, peaks: dict[tuple[int, int], float]) -> Tensor:
    """A ``(height, width)`` float64 map of low positive scores (0.05 to 0.3) with ``peaks``
    ``{(row, column): score}`` set on it."""
    generator = torch.Generator().manual_seed(seed)
    scores = 0.05 + 0.25 * torch.rand(height, width, generator=generator, dtype=torch.float64)
    for (row, column), value in peaks.items():
        scores[row, column] = value
    return scores


def _ratio_instances() -> list[Instance]:
    return [
        Instance(
            "a map whose highest competitor is a diagonal neighbour of the best (part of the "
            "peak, not a second peak)",
            (_score_map(5, 7, 1, {(2, 3): 0.9, (3, 4): 0.85, (2, 4): 0.5, (0, 0): 0.6}),),
        ),
        Instance(
            "a map with a competitor two cells from the best along its row (outside the "
            "3x3 box: a second peak)",
            (_score_map(6, 6, 2, {(3, 2): 0.9, (3, 4): 0.7, (4, 3): 0.8, (0, 5): 0.4}),),
        ),
        Instance(
            "a map whose best cell is in its top-left corner",
            (_score_map(5, 6, 3, {(0, 0): 0.9, (1, 1): 0.85, (0, 1): 0.8, (4, 5): 0.55}),),
        ),
        Instance(
            "a map 3 cells tall and 8 wide, its best cell in the last column",
            (_score_map(3, 8, 4, {(1, 7): 0.9, (2, 6): 0.85, (1, 2): 0.45, (0, 4): 0.6}),),
        ),
        Instance(
            "a map with a competitor two cells from the best along its column (outside the "
            "3x3 box: a second peak)",
            (_score_map(6, 5, 5, {(2, 2): 0.9, (4, 2): 0.7, (3, 3): 0.8, (0, 4): 0.4}),),
        ),
    ]


def _percent_right(error: Tensor, stride: float) -> float:
    """The library's whole-image score (``RuleScore.pck_cell``) of per-cell endpoint errors
    ``(h, w)`` in pixels, NaN where the true match is unknown."""
    counted = torch.isfinite(error)
    return _score(
        error[counted], torch.ones_like(error[counted], dtype=torch.bool), stride
    ).pck_cell


def _errors(height: int, width: int, seed: int, stride: float) -> Tensor:
    """Errors in pixels: about half the cells below one stride, the rest from 1 to 13 strides."""
    generator = torch.Generator().manual_seed(seed)
    error = torch.rand(height, width, generator=generator, dtype=torch.float64) * stride
    far = torch.rand(height, width, generator=generator) < 0.5
    return torch.where(far, error * 12 + stride, error)


def _accuracy_instances() -> list[Instance]:
    exact = _errors(4, 5, 5, 8.0)
    exact[0, :3] = 8.0  # a match exactly one cell (8 px) off: wrong
    exact[2, 1] = 0.0
    unknown = _errors(5, 6, 6, 8.0)
    unknown[:, :2] = float("nan")  # a band of target cells whose true match is outside
    unknown[0, :] = float("nan")
    small = _errors(6, 4, 7, 4.0)
    small[1, :3] = 6.0  # one and a half cells off at 4 px a cell: wrong
    return [
        Instance("errors of 8 px exactly at a stride of 8 (one cell off is wrong)", (exact, 8)),
        Instance("cells whose true match is unknown (NaN: not counted)", (unknown, 8)),
        Instance("a stride of 4 px", (small, 4)),
    ]


EXERCISES = {
    "the peak ratio": Exercise("the peak ratio", _one_map_ratio, _ratio_instances),
    "the % of cells right": Exercise("the % of cells right", _percent_right, _accuracy_instances),
}
