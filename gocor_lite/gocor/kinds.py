# SPDX-License-Identifier: MIT
"""What differs between global and local GOCor: one small strategy object per kind.

A :class:`Kind` says everything about a variant of GOCor that the optimiser
(:mod:`gocor_lite.gocor.optimizer`) and the module (:class:`~gocor_lite.gocor.modules.
GOCorBase`) do not decide themselves:

* how filters are scored on a feature map, the adjoint of that in the filters, and how many
  target rows one block of a sweep may hold (the :class:`~gocor_lite.gocor.optimizer.
  Correlation` protocol);
* the filter initialiser (sums or means over channels, to match the scores);
* the learned tables ``y``, ``v``, ``m`` at the scores' positions;
* the regulariser's divisor (``lambda = max(reg^2, reg_min^2) / divisor``);
* the public layout of a volume;
* the memory model: scores per target cell, and volumes held at the peak of a call.

Inside the optimiser a volume is ``(B, h, w, N)``: one row of ``N`` scores per target cell.

To add a correlation variant, write one file: a frozen dataclass with these methods, its
config, and a module ``class MyGOCor(GOCorBase)`` whose ``__init__`` passes the kind to
``GOCorBase.__init__`` (as :class:`~gocor_lite.gocor.modules.LocalGOCor` does). The optimiser,
the trace, the memory check and the autocast rule apply unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import Tensor, nn

from gocor_lite.core.correlation import (
    _global_correlation,
    _global_correlation_adjoint,
    _local_correlation,
    _local_correlation_adjoint,
)
from gocor_lite.gocor.initializers import make_initializer
from gocor_lite.gocor.optimizer import (
    DistanceTables,
    QueryLoss,
    ResidualTables,
    WindowTables,
    sweep_rows,
)
from gocor_lite.gocor.spatial import DistanceFunctions, offset_distances


class Kind(Protocol):
    """A variant of GOCor (see the module docstring). Shapes: ``N`` scores per target cell."""

    def scores(self, filters: Tensor, features: Tensor) -> Tensor:
        """Filters scored on a feature map: ``(B, C, h, w), (B, C, h', w') -> (B, h, w, N)``."""
        ...

    def adjoint(self, weights: Tensor, features: Tensor) -> Tensor:
        """The adjoint of :meth:`scores` in the filters: ``(B, h, w, N) -> (B, C, h, w)``."""
        ...

    def block_rows(self, batch: int, height: int, width: int, cells: int) -> int:
        """Target rows one block of a sweep may hold (``height``: no blocking)."""
        ...

    def initializer(self, name: str, num_channels: int | None) -> nn.Module:
        """The filter initialiser called ``name`` (:mod:`gocor_lite.gocor.initializers`)."""
        ...

    def tables(self, functions: DistanceFunctions, target: Tensor) -> ResidualTables:
        """The learned ``y``, ``v``, ``m`` at the scores' positions, for target ``(B, C, h, w)``
        (in its dtype and on its device)."""
        ...

    def reg_divisor(self, channels: int) -> float:
        """The regulariser is ``max(reg^2, reg_min^2) / reg_divisor(C)``."""
        ...

    def to_volume(self, scores: Tensor, features: Tensor) -> Tensor:
        """``(B, h, w, N)`` scores read on ``features`` -> the public volume layout."""
        ...

    def cells_per_row(self, source_size: tuple[int, int]) -> int:
        """``N`` for a source map of ``source_size`` ``(h', w')``."""
        ...

    def volumes_held(self, num_iter: int, grad: bool, query_loss: QueryLoss | None) -> float:
        """Volumes of ``(h*w) x N`` scores one call holds at its peak (the output included),
        with or without autograd."""
        ...


@dataclass(frozen=True)
class GlobalKind:
    """Global GOCor: every filter scored on every cell, a plain sum over channels.

    Tables: ``y``, ``v``, ``m`` of the distance between two target cells (an ``(h*w) x (h*w)``
    table, read by blocks as :class:`~gocor_lite.gocor.optimizer.DistanceTables`); the
    regulariser is not divided; volumes ``(B, h, w, h', w')``.
    """

    def scores(self, filters: Tensor, features: Tensor) -> Tensor:
        return _global_correlation(filters, features)

    def adjoint(self, weights: Tensor, features: Tensor) -> Tensor:
        return _global_correlation_adjoint(weights, features)

    def block_rows(self, batch: int, height: int, width: int, cells: int) -> int:
        # A block of target rows is scored on its own: scores(filters[:, :, rows], features)
        # are the rows ``rows`` of the whole volume.
        return sweep_rows(batch, height, width, cells)

    def initializer(self, name: str, num_channels: int | None) -> nn.Module:
        return make_initializer(name, num_channels, local=False)

    def tables(self, functions: DistanceFunctions, target: Tensor) -> ResidualTables:
        batch, _, height, width = target.shape
        rows = self.block_rows(batch, height, width, height * width)
        return DistanceTables(functions, functions.reach, height, width, rows, target)

    def reg_divisor(self, channels: int) -> float:
        return 1.0

    def to_volume(self, scores: Tensor, features: Tensor) -> Tensor:
        return scores.unflatten(-1, (features.shape[2], features.shape[3]))

    def cells_per_row(self, source_size: tuple[int, int]) -> int:
        return source_size[0] * source_size[1]

    def volumes_held(self, num_iter: int, grad: bool, query_loss: QueryLoss | None) -> float:
        # Without autograd: the output, plus the query loss's scores and gradient (blocks of
        # the target-vs-target scores are small). With autograd every step's intermediates
        # are saved for the backward pass: about 5 volumes a step, and the query loss's
        # D1 + D2 channels of 4D convolution on top.
        if not grad:
            return 1.0 + (2.0 if query_loss is not None else 0.0)
        per_step = 5.0
        if query_loss is not None:
            hidden = query_loss.source_weight.shape[0]  # D1
            out = query_loss.target_weight.shape[0]  # D2
            per_step += 3.0 + hidden + out
        return 1.0 + num_iter * per_step


@dataclass(frozen=True)
class LocalKind:
    """Local GOCor: filters scored on a ``(2R+1)^2`` window around their own cell, a *mean*
    over channels (as :func:`~gocor_lite.core.correlation.local_correlation`; dy-major window).

    Tables: one value per window entry (:class:`~gocor_lite.gocor.optimizer.WindowTables`);
    the initialiser divides by the mean square and the regulariser by ``C^2`` (both follow
    the ``1/C`` of the scores); volumes ``(B, h, w, 2R+1, 2R+1)``.
    """

    radius: int  # R

    @property
    def size(self) -> int:
        return 2 * self.radius + 1

    def scores(self, filters: Tensor, features: Tensor) -> Tensor:
        volume = _local_correlation(filters, features, self.radius, 1.0 / filters.shape[1])
        return volume.flatten(-2)  # (B, h, w, (2R+1)^2)

    def adjoint(self, weights: Tensor, features: Tensor) -> Tensor:
        volume = weights.unflatten(-1, (self.size, self.size))  # (B, h, w, 2R+1, 2R+1)
        return _local_correlation_adjoint(volume, features, self.radius, 1.0 / features.shape[1])

    def block_rows(self, batch: int, height: int, width: int, cells: int) -> int:
        return height  # a window needs its neighbours' rows: one block

    def initializer(self, name: str, num_channels: int | None) -> nn.Module:
        return make_initializer(name, num_channels, local=True)

    def tables(self, functions: DistanceFunctions, target: Tensor) -> ResidualTables:
        offsets = offset_distances(self.radius + 1, self.radius + 1, like=target)  # (S, S)
        label, weight, slope = functions(offsets)
        return WindowTables(label.flatten(), weight.flatten(), slope.flatten())

    def reg_divisor(self, channels: int) -> float:
        return float(channels * channels)

    def to_volume(self, scores: Tensor, features: Tensor) -> Tensor:
        return scores.unflatten(-1, (self.size, self.size))

    def cells_per_row(self, source_size: tuple[int, int]) -> int:
        return self.size * self.size

    def volumes_held(self, num_iter: int, grad: bool, query_loss: QueryLoss | None) -> float:
        return 1.0 + (5.0 * num_iter if grad else 4.0)
