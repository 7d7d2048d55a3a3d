# SPDX-License-Identifier: MIT
"""The GOCor filter optimiser: steepest descent with a Gauss-Newton step length, written once
and shared by the global and the local module.

What differs between global and local GOCor is passed in explicitly:

* the :class:`Correlation` used to score filters (global: every cell; local: a window) and its
  adjoint;
* ``reg_divisor`` (1 for global, ``C^2`` for local: the regulariser is ``max(reg^2, reg_min^2)
  / reg_divisor``);
* the optional :class:`QueryLoss`; with it the step length is one number per batch element,
  without it one per filter.

Inside the optimiser every score volume is kept as ``(B, h, w, N)``: one row of ``N`` scores
per target cell, ``N = h'*w'`` (global) or ``(2R+1)^2`` (local, dy-major). The learned tables
``y``, ``v``, ``m`` are given in a shape that broadcasts against that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gocor_lite.correlation import (
    _global_correlation,
    _global_correlation_adjoint,
    _local_correlation,
    _local_correlation_adjoint,
)

# Floor of the step length's denominator (the semantics page's 1e-8).
_DENOMINATOR_FLOOR = 1e-8


class Correlation(Protocol):
    """How filters are scored against a feature map, and the adjoint of that in the filters."""

    def scores(self, filters: Tensor, features: Tensor) -> Tensor:
        """``(B, C, h, w), (B, C, h', w') -> (B, h, w, N)``."""
        ...

    def adjoint(self, weights: Tensor, features: Tensor) -> Tensor:
        """``(B, h, w, N), (B, C, h', w') -> (B, C, h, w)``."""
        ...


class GlobalScores:
    """Filters scored on every cell of the feature map (no ``1/C``)."""

    def scores(self, filters: Tensor, features: Tensor) -> Tensor:
        return _global_correlation(filters, features)

    def adjoint(self, weights: Tensor, features: Tensor) -> Tensor:
        return _global_correlation_adjoint(weights, features)


@dataclass(frozen=True)
class LocalScores:
    """Filters scored on a ``(2R+1)^2`` window around their own cell (with ``1/C``)."""

    radius: int

    def scores(self, filters: Tensor, features: Tensor) -> Tensor:
        volume = _local_correlation(filters, features, self.radius, 1.0 / filters.shape[1])
        return volume.flatten(-2)  # (B, h, w, (2R+1)^2)

    def adjoint(self, weights: Tensor, features: Tensor) -> Tensor:
        size = 2 * self.radius + 1
        volume = weights.unflatten(-1, (size, size))  # (B, h, w, 2R+1, 2R+1)
        return _local_correlation_adjoint(volume, features, self.radius, 1.0 / features.shape[1])


class QueryLoss(nn.Module):
    """The query loss's operator ``P``: a separable 4D convolution of a global score volume.

    First a ``k x k`` convolution over the two source dimensions (1 -> ``D1`` channels), then one
    over the two target dimensions (``D1 -> D2``); zero padding ``k // 2``, no bias. The loss is
    ``1/2 ||P(t)||^2`` for the filters' scores ``t`` on the source features.
    """

    def __init__(
        self,
        kernel_size: int = 3,
        hidden_channels: int = 16,
        out_channels: int = 16,
        init_std: float = 1e-3,
    ):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {kernel_size}")
        size = (kernel_size, kernel_size)
        self.source_weight = nn.Parameter(torch.randn(hidden_channels, 1, *size) * init_std)
        self.target_weight = nn.Parameter(
            torch.randn(out_channels, hidden_channels, *size) * init_std
        )

    @property
    def padding(self) -> int:
        return self.source_weight.shape[-1] // 2

    def forward(self, scores: Tensor, source_size: tuple[int, int]) -> Tensor:
        """``P``: scores ``(B, h, w, h'*w')`` -> residual ``(B, h'*w', D2, h, w)``."""
        batch, height, width, cells = scores.shape
        source_weight = self.source_weight.to(scores.dtype)
        target_weight = self.target_weight.to(scores.dtype)
        hidden = F.conv2d(
            scores.reshape(batch * height * width, 1, *source_size),
            source_weight,
            padding=self.padding,
        )  # (B*h*w, D1, h', w')
        hidden = hidden.view(batch, height, width, -1, cells).permute(0, 4, 3, 1, 2)
        hidden = hidden.reshape(batch * cells, -1, height, width)  # (B*h'w', D1, h, w)
        out = F.conv2d(hidden, target_weight, padding=self.padding)  # (B*h'w', D2, h, w)
        return out.view(batch, cells, -1, height, width)

    def adjoint(self, residual: Tensor, source_size: tuple[int, int]) -> Tensor:
        """``P^T``: residual ``(B, h'*w', D2, h, w)`` -> scores ``(B, h, w, h'*w')``."""
        batch, cells, _, height, width = residual.shape
        source_weight = self.source_weight.to(residual.dtype)
        target_weight = self.target_weight.to(residual.dtype)
        hidden = F.conv_transpose2d(
            residual.reshape(batch * cells, -1, height, width),
            target_weight,
            padding=self.padding,
        )  # (B*h'w', D1, h, w)
        hidden = hidden.view(batch, cells, -1, height, width).permute(0, 3, 4, 2, 1)
        hidden = hidden.reshape(batch * height * width, -1, *source_size)  # (B*h*w, D1, h', w')
        out = F.conv_transpose2d(hidden, source_weight, padding=self.padding)
        return out.view(batch, height, width, cells)


@dataclass(frozen=True)
class Objective:
    """Everything the optimiser's objective needs besides the filters, fixed during a call.

    Shapes: ``label``, ``residual_weight``, ``negative_slope`` broadcast against the scores
    ``(B, h, w, N)`` (global: ``(h, w, h*w)``; local: ``((2R+1)^2,)``).
    """

    target: Tensor  # (B, C, h, w): the features the filters are fitted on
    source: Tensor  # (B, C, h', w'): read by the query loss and by the output volume
    correlation: Correlation
    label: Tensor  # y
    residual_weight: Tensor  # v
    negative_slope: Tensor  # m
    reg_weight: Tensor  # lambda, a one-element tensor
    query_loss: QueryLoss | None = None
    # Products of the tables that every iteration needs (derived in __post_init__).
    _abs_coeff: Tensor = field(init=False, repr=False)
    _lin_coeff: Tensor = field(init=False, repr=False)
    _offset: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # v * act(s; m) - v * y  ==  v(1-m)/2 |s| + v(1+m)/2 s - v y
        half_weight = self.residual_weight / 2
        object.__setattr__(self, "_abs_coeff", half_weight * (1 - self.negative_slope))
        object.__setattr__(self, "_lin_coeff", half_weight * (1 + self.negative_slope))
        object.__setattr__(self, "_offset", self.residual_weight * self.label)

    @property
    def source_size(self) -> tuple[int, int]:
        return (self.source.shape[2], self.source.shape[3])

    def residual(self, scores: Tensor) -> tuple[Tensor, Tensor]:
        """The reference residual ``r = v act(s; m) - v y`` and its slope ``v act'(s; m)``."""
        residual = self._abs_coeff * scores.abs() + self._lin_coeff * scores - self._offset
        slope = self._abs_coeff * torch.sign(scores) + self._lin_coeff
        return residual, slope


@dataclass(frozen=True)
class Losses:
    """The objective's terms for one set of filters. Shapes: each ``(B,)``."""

    reference: Tensor
    query: Tensor
    regularizer: Tensor

    @property
    def total(self) -> Tensor:
        return self.reference + self.query + self.regularizer


@dataclass(frozen=True)
class Step:
    """One optimiser step: the new filters and what it saw on the way."""

    filters: Tensor  # (B, C, h, w) after the step
    before: Evaluation  # the objective at the filters *before* the step
    step_length: Tensor  # alpha: (B, 1, h, w) per filter, or (B, 1, 1, 1) per batch element


@dataclass(frozen=True)
class Evaluation:
    """The objective at one set of filters, with the pieces its gradient is made of."""

    target_scores: Tensor  # s: (B, h, w, N)
    slope: Tensor  # v act'(s; m): the residual's derivative in the scores, (B, h, w, N)
    weighted_residual: Tensor  # v act'(s) r: the reference loss's gradient in the scores
    query_residual: Tensor | None  # P^T P t: the query loss's gradient in the scores t
    losses: Losses


def evaluate(filters: Tensor, objective: Objective) -> Evaluation:
    """Scores, losses and the gradients in the scores, for ``filters`` ``(B, C, h, w)``."""
    target_scores = objective.correlation.scores(filters, objective.target)
    residual, slope = objective.residual(target_scores)
    batch = filters.shape[0]
    reference = 0.5 * residual.square().reshape(batch, -1).sum(1)
    regularizer = 0.5 * objective.reg_weight * filters.square().reshape(batch, -1).sum(1)
    query_residual = None
    query = torch.zeros_like(reference)
    if objective.query_loss is not None:
        source_scores = objective.correlation.scores(filters, objective.source)
        projected = objective.query_loss(source_scores, objective.source_size)
        query = 0.5 * projected.square().reshape(batch, -1).sum(1)
        query_residual = objective.query_loss.adjoint(projected, objective.source_size)
    losses = Losses(reference, query, regularizer)
    return Evaluation(target_scores, slope, slope * residual, query_residual, losses)


def steepest_descent_step(filters: Tensor, objective: Objective, step_scale: Tensor) -> Step:
    """One GOCor step: ``w <- w - step_scale * alpha * g``.

    ``g = A^T(v act'(s) r) + lambda w [+ B^T(P^T P t)]`` with ``A``, ``B`` the correlations with
    the target and source features, and the Gauss-Newton step length
    ``alpha = |g|^2 / (|v act'(s) A g|^2 [+ |P B g|^2] + lambda |g|^2)``, per filter without a
    query loss and per batch element with one.
    """
    correlation, target = objective.correlation, objective.target
    current = evaluate(filters, objective)

    gradient = correlation.adjoint(current.weighted_residual, target)
    gradient = gradient + objective.reg_weight * filters
    if current.query_residual is not None:
        gradient = gradient + correlation.adjoint(current.query_residual, objective.source)

    # Curvature along the gradient (Gauss-Newton: the residuals' Jacobian applied to g).
    along_target = (current.slope * correlation.scores(gradient, target)).square()  # (B,h,w,N)
    gradient_energy = gradient.square()  # (B, C, h, w)
    if objective.query_loss is None:
        numerator = gradient_energy.sum(1, keepdim=True)  # (B, 1, h, w)
        denominator = along_target.sum(-1).unsqueeze(1) + objective.reg_weight * numerator
    else:
        batch = filters.shape[0]
        along_source = objective.query_loss(
            correlation.scores(gradient, objective.source), objective.source_size
        )
        numerator = gradient_energy.reshape(batch, -1).sum(1).view(batch, 1, 1, 1)
        denominator = (
            along_target.reshape(batch, -1).sum(1).view(batch, 1, 1, 1)
            + along_source.square().reshape(batch, -1).sum(1).view(batch, 1, 1, 1)
            + objective.reg_weight * numerator
        )
    step_length = numerator / denominator.clamp(min=_DENOMINATOR_FLOOR)
    new_filters = filters - step_scale * step_length * gradient
    return Step(new_filters, current, step_length)
