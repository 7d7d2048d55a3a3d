# SPDX-License-Identifier: MIT
"""Notebooks 5 and 6's exercises: GOCor's activation (notebook 5), and the Gauss-Newton step
length of one filter (notebook 6).

Each instance is chosen so that a usual mistake changes the answer: scores of both signs with a
slope well below 1 (the slope put on the wrong side, or ignored), a different slope per score
(a slope read as a scalar), a residual weight that is not 1 (the weight ``v`` left out), and
a ``lambda`` where the regulariser matters, graded first (at the paper's ``lambda = 1e-4``
dropping the term ``lambda |g|^2`` changes ``alpha`` by a few parts in a hundred thousand: a
loose tolerance would let that mistake pass, and a tight one would report it as a tiny error).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gocor_lite.exercises.grading import Exercise, Instance
from gocor_lite.gocor.kinds import GlobalKind
from gocor_lite.gocor.optimizer import Objective, WindowTables, _step_length, residual


def _activation(scores: Tensor, slope: Tensor) -> Tensor:
    """``act(s; m)``: the residual of :func:`~gocor_lite.gocor.optimizer.residual` with
    ``v = 1`` and ``y = 0``."""
    return residual(scores, torch.zeros_like(scores), torch.ones_like(scores), slope)[0]


def _float64(values: list[float]) -> Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _activation_instances() -> list[Instance]:
    return [
        Instance(
            "scores of both signs with m = 0.1",
            (_float64([-0.8, -0.3, 0.2, 0.5, 0.9]), _float64([0.1])),
        ),
        Instance(
            "a different slope m for each score (0.02 far away, 0.9 near the cell)",
            (_float64([-0.6, -0.6, 0.4, -0.2]), _float64([0.02, 0.9, 0.5, 0.3])),
        ),
    ]


def _step_length_reference(
    gradient: Tensor, features: Tensor, scores: Tensor, weight: Tensor, slope: Tensor, lam: float
) -> Tensor:
    """``alpha`` of one filter, from the library's optimiser: the derivative ``v act'(s; m)`` of
    :func:`~gocor_lite.gocor.optimizer.residual` and the step length of
    :func:`~gocor_lite.gocor.optimizer.steepest_descent_step` (no query loss).

    Shapes: gradient ``(C,)``, features ``(C, N)`` (the target cells as columns), scores,
    weight, slope ``(N,)`` -> a 0-dim tensor.
    """
    channels, cells = features.shape
    target = features.reshape(1, channels, 1, cells)  # a 1 x N grid of target cells
    kind = GlobalKind()
    objective = Objective(
        target=target,
        source=target,
        correlation=kind,
        tables=WindowTables(torch.zeros_like(scores), weight, slope),
        reg_weight=torch.tensor(lam, dtype=features.dtype),
    )
    derivative = residual(scores, torch.zeros_like(scores), weight, slope)[1]  # v act'(s)
    direction = gradient.reshape(1, channels, 1, 1)
    along = derivative * kind.scores(direction, target)  # (1, 1, 1, N)
    return _step_length(objective, direction, along.square().sum(-1)).reshape(())


def _unit_columns(seed: int, channels: int, cells: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(channels, cells, generator=generator, dtype=torch.float64)
    return features / features.norm(dim=0, keepdim=True)  # unit features, as GOCor's


def _step_instance(name: str, seed: int, lam: float, slope: float) -> Instance:
    """A filter of 6 channels on 9 unit target features; scores of both signs, weights
    between 0.5 and 2, the same slope ``m`` everywhere."""
    channels, cells = 6, 9
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(channels, cells, generator=generator, dtype=torch.float64)
    features = features / features.norm(dim=0, keepdim=True)  # unit features, as GOCor's
    gradient = torch.randn(channels, generator=generator, dtype=torch.float64)
    scores = torch.randn(cells, generator=generator, dtype=torch.float64) * 0.5
    weight = 0.5 + 1.5 * torch.rand(cells, generator=generator, dtype=torch.float64)
    slopes = torch.full((cells,), slope, dtype=torch.float64)
    return Instance(name, (gradient, features, scores, weight, slopes, lam))


def _step_instances() -> list[Instance]:
    return [
        _step_instance(
            "a lambda where the regulariser matters (lambda = 1), m = 0.5", 12, 1.0, 0.5
        ),
        _step_instance("a small negative slope (m = 0.05), lambda = 0.1", 13, 0.1, 0.05),
        _step_instance("the paper's lambda (1e-4), m = 0.5", 11, 1e-4, 0.5),
    ]


EXERCISES = {
    "the activation": Exercise("the activation", _activation, _activation_instances),
    "the step length": Exercise(
        "the step length", _step_length_reference, _step_instances, atol=1e-9, rtol=1e-7
    ),
}
