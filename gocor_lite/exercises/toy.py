# SPDX-License-Identifier: MIT
"""Notebook 0's exercises: one position's score curve by hand, and one GOCor step length.

Each instance is chosen so that a usual mistake changes the answer: features that are not
unit vectors and a target longer than the source (a mean over channels instead of a sum, the
target and source swapped, a channel read instead of a position), weights ``v act'`` that are
neither 0 nor 1 (forgotten or not squared), a ``lambda`` large enough for the regulariser's
term to matter, and a zero gradient (the denominator's floor).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gocor_lite.core.toy import score_curve, step_length_1d
from gocor_lite.exercises.grading import Exercise, Instance


def _random(seed: int, *size: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*size, generator=generator, dtype=torch.float64)


def _curve_instances() -> list[Instance]:
    return [
        Instance(
            "5 channels, a target of 9 positions against a source of 7 (position 6)",
            (_random(1, 5, 9), _random(2, 5, 7), 6),
        ),
        Instance(
            "3 channels, a target of 4 positions against a source of 11 (position 0)",
            (_random(3, 3, 4), _random(4, 3, 11), 0),
        ),
    ]


def _weights(seed: int, size: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.2 + 1.8 * torch.rand(size, generator=generator, dtype=torch.float64)  # in (0.2, 2)


def _step_instances() -> list[Instance]:
    return [
        Instance(
            "lambda = 0.5, where the regulariser's term matters",
            (_random(5, 6), _random(6, 6, 10), torch.ones(10, dtype=torch.float64), 0.5),
        ),
        Instance(
            "weights v act' between 0.2 and 2 (neither 0 nor 1), lambda = 1e-4",
            (_random(7, 4), _random(8, 4, 12), _weights(9, 12), 1e-4),
        ),
        Instance(
            "a zero gradient (the filter is already optimal: the denominator's floor)",
            (torch.zeros(4, dtype=torch.float64), _random(10, 4, 8), _weights(11, 8), 1e-2),
        ),
    ]


EXERCISES = {
    "the 1-D score curve": Exercise(
        "the 1-D score curve", score_curve, _curve_instances, atol=1e-9, rtol=1e-9
    ),
    "the 1-D step length": Exercise(
        "the 1-D step length", step_length_1d, _step_instances, atol=1e-9, rtol=1e-7
    ),
}
