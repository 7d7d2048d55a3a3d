# SPDX-License-Identifier: MIT
"""Notebook 8's exercises: the training loss of a few cells, and a learned function of distance
from its bins.

Each instance is chosen so that a usual mistake changes the answer: scores far above the
temperature (a softmax without the log-sum-exp shift overflows; the log of a softmax
underflows to ``-inf``), a temperature other than 1 (left out, or multiplied), two cells (the
loss is a mean over cells, not a sum), a true match between candidates (a one-hot at the nearest
candidate, or a Gaussian of the wrong width); distances between bin centres and past the last
one (the bins off by one, nearest-bin rounding, a last bin that does not saturate), and a bin
width other than the default 0.5 (a hard-coded width).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gocor_lite.exercises.grading import Exercise, Instance
from gocor_lite.gocor.spatial import DistanceFunctions
from gocor_lite.reading.supervision import match_loss


def _cross_entropy(
    scores: Tensor, candidates: Tensor, matches: Tensor, temperature: float, sigma: float
) -> Tensor:
    """The library's :func:`~gocor_lite.reading.supervision.match_loss` on ``M`` cells of one row.

    Shapes: scores ``(M, N)``, candidates ``(N, 2)`` source pixels (x, y) shared by the cells,
    matches ``(M, 2)`` -> a 0-dim tensor.
    """
    cells, count = scores.shape
    return match_loss(
        scores.reshape(1, 1, cells, count),
        candidates.reshape(1, 1, 1, count, 2),
        matches.T.reshape(1, 2, 1, cells),
        torch.ones(1, 1, cells, dtype=torch.bool),
        temperature,
        sigma,
    )


def _row(count: int) -> Tensor:
    """``count`` cell centres of stride 8 along the first row: ``(N, 2)`` pixels."""
    x = 8 * torch.arange(count, dtype=torch.float64) + 3.5
    return torch.stack([x, torch.full_like(x, 3.5)], dim=-1)


def _loss_instances() -> list[Instance]:
    scores = torch.tensor(
        [[0.1, 0.6, 0.5, -0.2, 0.0], [0.3, -0.1, 0.2, 0.7, 0.4]], dtype=torch.float64
    )
    large = torch.tensor([[60.0, 95.0, 80.0, -40.0, 10.0]], dtype=torch.float64)
    return [
        Instance(
            "two cells, true matches between candidates, T = 0.1, sigma = 4 px",
            (scores, _row(5), torch.tensor([[14.0, 3.5], [29.0, 5.0]], dtype=torch.float64)),
            {"temperature": 0.1, "sigma": 4.0},
        ),
        Instance(
            "scores far above the temperature (T = 0.05: exp(s / T) overflows)",
            (large, _row(5), torch.tensor([[12.0, 3.5]], dtype=torch.float64)),
            {"temperature": 0.05, "sigma": 4.0},
        ),
        Instance(
            "a wider goal (sigma = 6 px) and T = 0.5",
            (scores, _row(5), torch.tensor([[18.0, 2.0], [22.0, 3.5]], dtype=torch.float64)),
            {"temperature": 0.5, "sigma": 6.0},
        ),
    ]


def _label(distance: Tensor, coefficients: Tensor, bin_width: float) -> Tensor:
    """``y(d) = sum_k a_k phi_k(d)``: the label of
    :class:`~gocor_lite.gocor.spatial.DistanceFunctions` with coefficients ``a`` ``(K,)``.

    Shapes: distance ``(S,)`` cells -> ``(S,)``.
    """
    functions = DistanceFunctions(num_bins=coefficients.shape[0], bin_width=bin_width).double()
    with torch.no_grad():
        functions.label_coeffs.copy_(coefficients)
    return functions(distance)[0].detach()


def _label_instances() -> list[Instance]:
    coefficients = torch.tensor(
        [1.0, 0.8, 0.35, -0.1, -0.2, 0.05, 0.1, -0.05, 0.02, 0.3], dtype=torch.float64
    )
    between = torch.tensor([0.0, 0.2, 0.6, 1.3, 2.05], dtype=torch.float64)
    return [
        Instance(
            "distances between bin centres, bin width 0.5",
            (between, coefficients, 0.5),
        ),
        Instance(
            "distances at and past the last bin's centre (4.5 cells), bin width 0.5",
            (torch.tensor([4.2, 4.5, 4.8, 7.0], dtype=torch.float64), coefficients, 0.5),
        ),
        Instance(
            "a bin width of 0.75 cells",
            (torch.tensor([0.3, 1.0, 2.6, 5.0, 8.0], dtype=torch.float64), coefficients, 0.75),
        ),
    ]


EXERCISES = {
    "the matching loss": Exercise(
        "the matching loss", _cross_entropy, _loss_instances, atol=1e-9, rtol=1e-7
    ),
    "the label from its bins": Exercise(
        "the label from its bins", _label, _label_instances, atol=1e-9, rtol=1e-7
    ),
}
