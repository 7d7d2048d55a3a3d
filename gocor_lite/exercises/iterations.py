# SPDX-License-Identifier: MIT
"""Notebook 7's exercise: the net gain of GOCor over the correlation, cells fixed minus cells
broken.

A target cell's match is *right* when its endpoint error is below one feature cell
(``error < stride`` pixels, :mod:`gocor_lite.evaluation.rule_scores`); only cells whose true match
is known count. *Fixed*: right with GOCor and wrong with the correlation; *broken*: the reverse
(:class:`gocor_lite.evaluation.rule_scores.AmbiguitySplit`'s ``fixed`` and ``broken``).

Each instance is chosen so that a usual mistake changes the answer: cells whose error changes
without their verdict changing (counting changed or improved cells instead of fixed ones),
errors of exactly one stride (``<=`` instead of ``<``), errors between one pixel and one stride
(a tolerance of one pixel instead of one cell), unknown cells with errors of their own, and a
pair where GOCor breaks more than it fixes (a net gain below zero).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gocor_lite.exercises.grading import Exercise, Instance


def fixed_minus_broken(
    correlation_errors: Tensor, gocor_errors: Tensor, known: Tensor, stride: float
) -> int:
    """Cells GOCor fixes minus cells it breaks.

    Shapes: correlation_errors, gocor_errors ``(h, w)`` endpoint errors in pixels, known
    ``(h, w)`` bool; ``stride`` pixels per cell."""
    correlation_right = correlation_errors < stride
    gocor_right = gocor_errors < stride
    fixed = known & gocor_right & ~correlation_right
    broken = known & correlation_right & ~gocor_right
    return int(fixed.sum()) - int(broken.sum())


def _errors(rows: list[list[float]]) -> Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def _random_errors(seed: int, height: int, width: int, stride: float) -> tuple[Tensor, Tensor]:
    """Two error maps where about half of the cells change their error: many stay wrong (or
    right) with another error, some change verdict."""
    generator = torch.Generator().manual_seed(seed)
    correlation = torch.rand(height, width, generator=generator, dtype=torch.float64) * 4 * stride
    changed = torch.rand(height, width, generator=generator) < 0.5
    other = torch.rand(height, width, generator=generator, dtype=torch.float64) * 4 * stride
    return correlation, torch.where(changed, other, correlation)


def _instances() -> list[Instance]:
    stride = 8.0
    correlation, gocor = _random_errors(5, 6, 9, stride)
    everything = torch.ones(6, 9, dtype=torch.bool)
    # Errors of exactly one stride: wrong, never right.
    edge_correlation = _errors([[8.0, 8.0, 3.0, 20.0], [8.0, 1.0, 8.0, 30.0]])
    edge_gocor = _errors([[2.0, 5.0, 8.0, 8.0], [0.5, 8.0, 12.0, 4.0]])
    # Errors between one pixel and one stride are right (the tolerance is a cell, in pixels).
    pixel_correlation = _errors([[5.0, 0.5, 12.0], [7.5, 0.2, 9.0], [3.0, 16.0, 0.8]])
    pixel_gocor = _errors([[0.5, 6.0, 4.0], [0.3, 0.1, 2.0], [9.0, 1.5, 5.0]])
    # Unknown cells with errors of their own (GOCor "fixes" them all): they must not count.
    unknown_correlation, unknown_gocor = _random_errors(7, 5, 4, stride)
    unknown_known = torch.ones(5, 4, dtype=torch.bool)
    unknown_known[:, 0] = False
    unknown_correlation[:, 0], unknown_gocor[:, 0] = 30.0, 1.0
    # GOCor breaks more than it fixes.
    worse_correlation = _errors([[1.0, 2.0, 3.0, 20.0], [4.0, 5.0, 30.0, 6.0]])
    worse_gocor = _errors([[9.0, 40.0, 2.0, 3.0], [25.0, 5.5, 31.0, 10.0]])
    two_by_four = torch.ones(2, 4, dtype=torch.bool)
    return [
        Instance(
            "6x9 cells where half the errors change, most without changing right or wrong "
            "(fixed: wrong -> right only)",
            (correlation, gocor, everything, stride),
        ),
        Instance(
            "errors of exactly one stride (right means strictly within one cell)",
            (edge_correlation, edge_gocor, two_by_four, stride),
        ),
        Instance(
            "errors between one pixel and one stride (the tolerance is one cell, in pixels)",
            (pixel_correlation, pixel_gocor, torch.ones(3, 3, dtype=torch.bool), stride),
        ),
        Instance(
            "cells whose truth is unknown (they must not count)",
            (unknown_correlation, unknown_gocor, unknown_known, stride),
        ),
        Instance(
            "a pair where GOCor breaks more cells than it fixes",
            (worse_correlation, worse_gocor, two_by_four, stride),
        ),
    ]


EXERCISES = {
    "cells fixed minus cells broken": Exercise(
        "cells fixed minus cells broken", fixed_minus_broken, _instances
    ),
}
