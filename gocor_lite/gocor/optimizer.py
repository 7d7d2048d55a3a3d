# SPDX-License-Identifier: MIT
"""The GOCor filter optimiser: steepest descent with a Gauss-Newton step length, written once
and shared by the global and the local module.

What differs between global and local GOCor arrives in the :class:`Objective`, built by the
module from its kind (:mod:`gocor_lite.gocor.kinds`):

* the :class:`Correlation` used to score filters (global: every cell; local: a window) and its
  adjoint;
* the learned tables ``y``, ``v``, ``m`` (:class:`ResidualTables`: one row of
  ``(2R+1)^2`` values for local GOCor, a function of the distance between two target cells for
  global GOCor);
* the regulariser's weight ``lambda`` (``max(reg^2, reg_min^2)``, divided by ``C^2`` for local
  GOCor);
* the optional :class:`QueryLoss`; with it the step length is one number per batch element,
  without it one per filter.

:func:`evaluate` computes the objective at a set of filters; :func:`steepest_descent_step`
computes it too (from the same helpers) and takes one step.

Inside the optimiser every score volume is kept as ``(B, h, w, N)``: one row of ``N`` scores
per target cell, ``N = h'*w'`` (global) or ``(2R+1)^2`` (local, dy-major).

Memory: the target-vs-target scores of global GOCor (``(h*w) x (h*w)`` entries) are never held
whole. A step sweeps the target cells in blocks of whole rows (:attr:`Correlation.block_rows`);
each block's scores, residuals and curvature are computed while they are in cache and then
dropped, and the learned tables are never materialised as ``(h*w) x (h*w)`` arrays: beyond the
distance ``(num_bins - 1) * bin_width`` they are constant, so each block reads one small band
of exact values around the diagonal and scalars elsewhere. With the query loss, the scores on
the source (one ``(h*w) x (h'*w')`` volume) and the query gradient ``P^T P t`` (one more) are
held whole, and the 16-channel 4D convolutions run over a few source rows at a time.
So without autograd a step holds **at most two** ``(h*w) x (h'*w')`` volumes (none without the
query loss), plus blocks of bounded size (about ten temporaries of ``_BLOCK_ENTRIES`` scores,
~40 MiB in float32, and a few query chunks of ``_QUERY_CHUNK_ENTRIES``, ~100 MiB); the module's
output adds one. With autograd every step's intermediates are kept for the backward pass.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gocor_lite.gocor.spatial import offset_distances

# Floor of the step length's denominator (the semantics page's 1e-8).
_DENOMINATOR_FLOOR = 1e-8
# Scores per block of target rows in a global sweep (4 MiB in float32: a block and its few
# temporaries stay in the last-level cache), and the fewest target cells per block (the
# matrix products of a block need that many rows to run near the machine's peak).
_BLOCK_ENTRIES = 2**20
_BLOCK_MIN_CELLS = 256
# Hidden activations per chunk of source rows of the query loss (32 MiB in float32).
_QUERY_CHUNK_ENTRIES = 2**23


class Correlation(Protocol):
    """How filters are scored against a feature map, and the adjoint of that in the filters."""

    def scores(self, filters: Tensor, features: Tensor) -> Tensor:
        """``(B, C, h, w), (B, C, h', w') -> (B, h, w, N)``."""
        ...

    def adjoint(self, weights: Tensor, features: Tensor) -> Tensor:
        """``(B, h, w, N), (B, C, h', w') -> (B, C, h, w)``."""
        ...

    def block_rows(self, batch: int, height: int, width: int, cells: int) -> int:
        """How many target rows one block of a sweep may hold (all of them: no blocking)."""
        ...


def sweep_rows(batch: int, height: int, width: int, cells: int) -> int:
    """Target rows per block of a sweep whose scores have ``cells`` columns: blocks of about
    ``_BLOCK_ENTRIES`` scores, and at least ``_BLOCK_MIN_CELLS`` target cells."""
    rows = max(-(-_BLOCK_MIN_CELLS // width), _BLOCK_ENTRIES // (batch * width * cells))
    return max(1, min(height, rows))


def _batch_energy(projected: Tensor, batch: int) -> Tensor:
    """``sum projected^2`` per batch element of a chunk ``(B*n*w', D2, h, w)`` (batch-major
    rows), in any memory layout without copying it: ``(B,)``."""
    return projected.square().sum(dim=(1, 2, 3)).view(batch, -1).sum(1)


class QueryLoss(nn.Module):
    """The query loss's operator ``P``: a separable 4D convolution of a global score volume.

    First a ``k x k`` convolution over the two source dimensions (1 -> ``D1`` channels), then one
    over the two target dimensions (``D1 -> D2``); zero padding ``k // 2``, no bias. The loss is
    ``1/2 ||P(t)||^2`` for the filters' scores ``t`` on the source features.

    :meth:`forward` and :meth:`adjoint` apply ``P`` and ``P^T`` to a whole volume (``D1`` and
    ``D2`` times its size in intermediates); :meth:`energy` and :meth:`gradient`, which the
    optimiser uses, compute the same over a few source rows at a time.
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

    # -- the same, a few source rows at a time --------------------------------------------------
    def _chunk_rows(self, scores: Tensor, source_size: tuple[int, int]) -> int:
        batch, height, width, _ = scores.shape
        per_row = batch * height * width * self.source_weight.shape[0] * source_size[1]
        return max(1, min(source_size[0], _QUERY_CHUNK_ENTRIES // per_row - 2 * self.padding))

    def _project_rows(self, scores: Tensor, source_size: tuple[int, int], rows: range) -> Tensor:
        """``P(t)`` at the source rows ``rows``: ``(B*len(rows)*w', D2, h, w)``.

        Reads the rows ``rows`` of ``t`` (scores ``(B, h, w, h'*w')``) and ``k // 2`` on each
        side (zero beyond the map).
        """
        batch, height, width, _ = scores.shape
        source_height, source_width = source_size
        pad, first, stop = self.padding, rows.start, rows.stop
        low, high = max(first - pad, 0), min(stop + pad, source_height)
        window = scores.unflatten(-1, source_size)[:, :, :, low:high]  # (B, h, w, rows, w')
        window = window.reshape(batch * height * width, 1, high - low, source_width)
        window = F.pad(window, (0, 0, low - (first - pad), stop + pad - high))
        hidden = F.conv2d(window, self.source_weight.to(scores.dtype), padding=(0, pad))
        hidden_channels, cells = hidden.shape[1], len(rows) * source_width
        # To the target convolution's input (B*n*w', D1, h, w), channels last: the 16-channel
        # convolutions and the transposition after them run faster on that layout (the step's
        # query gradient took 22 ms instead of 36 ms at 16x16, one thread).
        hidden = hidden.view(batch, height, width, hidden_channels, cells)
        hidden = hidden.permute(0, 4, 1, 2, 3).contiguous()  # (B, n*w', h, w, D1)
        hidden = hidden.view(batch * cells, height, width, hidden_channels).permute(0, 3, 1, 2)
        return F.conv2d(hidden, self.target_weight.to(scores.dtype), padding=pad)

    def energy(self, scores: Tensor, source_size: tuple[int, int]) -> Tensor:
        """``||P(t)||^2`` per batch element for scores ``(B, h, w, h'*w')``: ``(B,)``."""
        batch = scores.shape[0]
        step = self._chunk_rows(scores, source_size)
        total = scores.new_zeros(batch)
        for first in range(0, source_size[0], step):
            rows = range(first, min(first + step, source_size[0]))
            projected = self._project_rows(scores, source_size, rows)
            total = total + _batch_energy(projected, batch)
        return total

    def gradient(self, scores: Tensor, source_size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """The loss ``1/2 ||P(t)||^2`` ``(B,)`` and its gradient ``P^T P t`` ``(B, h, w, h'*w')``.

        Holds one volume (the gradient) besides ``scores``, and chunks of bounded size.
        """
        batch, height, width, cells = scores.shape
        source_height, source_width = source_size
        pad = self.padding
        step = self._chunk_rows(scores, source_size)
        loss = scores.new_zeros(batch)
        gradient = scores.new_zeros(batch, height, width, source_height, source_width)
        for first in range(0, source_height, step):
            rows = range(first, min(first + step, source_height))
            projected = self._project_rows(scores, source_size, rows)  # (B*n*w', D2, h, w)
            loss = loss + 0.5 * _batch_energy(projected, batch)
            hidden = F.conv_transpose2d(
                projected, self.target_weight.to(scores.dtype), padding=pad
            )  # (B*n*w', D1, h, w), channels last as its input
            hidden_channels = hidden.shape[1]
            hidden = hidden.permute(0, 2, 3, 1).reshape(
                batch, len(rows) * source_width, height, width, hidden_channels
            )
            hidden = hidden.permute(0, 2, 3, 1, 4).contiguous()  # (B, h, w, n*w', D1)
            hidden = hidden.view(
                batch * height * width, len(rows), source_width, hidden_channels
            ).permute(0, 3, 1, 2)  # (B*h*w, D1, n, w'), channels last
            back = F.conv_transpose2d(
                hidden, self.source_weight.to(scores.dtype), padding=(0, pad)
            )  # (B*h*w, 1, n+2p, w'): source rows first-p .. last+p
            back = back.reshape(batch, height, width, len(rows) + 2 * pad, source_width)
            low, high = max(first - pad, 0), min(rows.stop + pad, source_height)
            start = low - (first - pad)
            gradient[:, :, :, low:high] += back[:, :, :, start : start + high - low]
        return loss, gradient.reshape(batch, height, width, cells)


# ---------------------------------------------------------------------------------------------
# The learned tables, by blocks of target rows.


@dataclass(frozen=True)
class Piece:
    """The residual's coefficients over a range of score columns, for one block of rows.

    ``r = abs_coeff |s| + lin_coeff s - offset`` and ``v act'(s) = abs_coeff sign(s) +
    lin_coeff``, with ``abs_coeff = v (1-m)/2``, ``lin_coeff = v (1+m)/2``, ``offset = v y``.
    Shapes: each coefficient broadcasts against the block's scores ``(B, n, w, N)[..., columns]``.
    """

    columns: slice
    abs_coeff: Tensor
    lin_coeff: Tensor
    offset: Tensor

    @classmethod
    def of(cls, columns: slice, label: Tensor, weight: Tensor, slope: Tensor) -> Piece:
        """The coefficients from the label ``y``, the weight ``v`` and the slope ``m``."""
        half = weight / 2
        return cls(columns, half * (1 - slope), half * (1 + slope), weight * label)

    def residual(self, scores: Tensor) -> tuple[Tensor, Tensor]:
        """``(r, v act'(s))`` for ``scores`` (broadcasting against the coefficients)."""
        # sign(s) has a zero derivative: detached, autograd skips a volume-sized product of zeros.
        derivative = torch.addcmul(self.lin_coeff, self.abs_coeff, torch.sign(scores.detach()))
        return torch.addcmul(-self.offset, derivative, scores), derivative  # a|s| + l s - v y


def residual(scores: Tensor, label: Tensor, weight: Tensor, slope: Tensor) -> tuple[Tensor, Tensor]:
    """GOCor's residual of ``scores`` and its derivative in them (what the optimiser uses).

    ``r = v act(s; m) - v y`` with ``act(s; m) = (1-m)/2 |s| + (1+m)/2 s`` (the identity for
    ``s >= 0``, slope ``m`` below), and ``dr/ds = v act'(s; m)``. ``label`` ``y``, ``weight``
    ``v`` and ``slope`` ``m`` broadcast against ``scores``.

    >>> r, dr = residual(torch.tensor([-1.0, 2.0]), torch.tensor(0.0), torch.tensor(1.0),
    ...                  torch.tensor(0.25))
    >>> r.tolist(), dr.tolist()
    ([-0.25, 2.0], [0.25, 1.0])
    """
    return Piece.of(slice(None), label, weight, slope).residual(scores)


class ResidualTables(Protocol):
    """The coefficients of the residual for the target rows ``rows`` (a block of a sweep)."""

    def pieces(self, rows: slice) -> list[Piece]: ...


@dataclass(frozen=True)
class WindowTables:
    """Local GOCor: one value per window entry, the same for every cell. Shapes: ``(N,)``."""

    label: Tensor
    residual_weight: Tensor
    negative_slope: Tensor

    def pieces(self, rows: slice) -> list[Piece]:
        return [Piece.of(slice(None), self.label, self.residual_weight, self.negative_slope)]


class DistanceTables:
    """Global GOCor: ``y``, ``v``, ``m`` of the distance between target cells ``i`` and ``j``.

    The functions are constant from ``reach`` on, so a target row ``y`` sees exact values only
    in the target rows ``y - R_n .. y + R_n`` (``R_n = ceil(reach) - 1``) and the far value
    everywhere else. A band of ``block + 2 R_n`` rows of exact values is evaluated once and read
    by every block; nothing of size ``(h*w) x (h*w)`` is built.

    ``functions`` maps distances (a tensor) to ``(y, v, m)`` of the same shape.
    """

    def __init__(
        self,
        functions: Callable[[Tensor], tuple[Tensor, Tensor, Tensor]],
        reach: float,
        height: int,
        width: int,
        block_rows: int,
        like: Tensor,
    ):
        self.height, self.width = height, width
        self.near_rows = max(0, math.ceil(reach) - 1)
        block_rows = min(block_rows, height)
        band_rows = block_rows + 2 * self.near_rows
        # The functions at every offset a band can hold, then spread like pairwise_table:
        # band[a, x, b, x'] = values[(b - R_n - a) + (n - 1 + R_n), (x' - x) + (w - 1)].
        offsets = offset_distances(block_rows + self.near_rows, width, like=like)
        band = (
            values.unfold(0, band_rows, 1).unfold(1, width, 1).flip(0, 1)  # (n, w, n+2R_n, w)
            for values in functions(offsets)  # each (2(n+R_n)-1, 2w-1)
        )
        coefficients = Piece.of(slice(None), *band)
        self.band = Piece(
            slice(None),
            coefficients.abs_coeff.contiguous(),
            coefficients.lin_coeff.contiguous(),
            coefficients.offset.contiguous(),
        )
        far = torch.full((), float(reach), dtype=like.dtype, device=like.device)
        self.far = Piece.of(slice(None), *functions(far))  # 0-dim coefficients

    def pieces(self, rows: slice) -> list[Piece]:
        first, stop = rows.start, rows.stop
        width, near = self.width, self.near_rows
        low, high = max(first - near, 0), min(stop + near, self.height)
        offset = first - near  # the band's row 0 is this target row
        near_columns = slice(low * width, high * width)
        band = [
            table[: stop - first, :, low - offset : high - offset].flatten(-2)  # (n, w, rows*w)
            for table in (self.band.abs_coeff, self.band.lin_coeff, self.band.offset)
        ]
        pieces = [Piece(near_columns, *band)]
        if low > 0:
            pieces.insert(0, dataclasses.replace(self.far, columns=slice(0, low * width)))
        if high < self.height:
            pieces.append(dataclasses.replace(self.far, columns=slice(high * width, None)))
        return pieces  # in column order


# ---------------------------------------------------------------------------------------------
# The objective and one step.


@dataclass(frozen=True)
class Objective:
    """Everything the optimiser's objective needs besides the filters, fixed during a call."""

    target: Tensor  # (B, C, h, w): the features the filters are fitted on
    source: Tensor  # (B, C, h', w'): read by the query loss and by the output volume
    correlation: Correlation
    tables: ResidualTables  # y, v, m
    reg_weight: Tensor  # lambda, a one-element tensor
    query_loss: QueryLoss | None = None

    @property
    def source_size(self) -> tuple[int, int]:
        return (self.source.shape[2], self.source.shape[3])


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
class Evaluation:
    """The objective at one set of filters."""

    losses: Losses
    target_scores: Tensor | None  # s: (B, h, w, N), when asked for (the trace shows it)


@dataclass(frozen=True)
class Step:
    """One optimiser step: the new filters and what it saw on the way."""

    filters: Tensor  # (B, C, h, w) after the step
    before: Evaluation | None  # the objective at the filters *before* the step (None: not asked)
    step_length: Tensor  # alpha: (B, 1, h, w) per filter, or (B, 1, 1, 1) per batch element


def evaluate(filters: Tensor, objective: Objective, keep_scores: bool = True) -> Evaluation:
    """The objective's losses at ``filters`` ``(B, C, h, w)`` (and their target scores ``s``,
    ``(B, h, w, N)``, with ``keep_scores``), without a step."""
    batch = filters.shape[0]
    reference = filters.new_zeros(batch)
    kept = []
    for rows in _blocks(objective):
        scores = objective.correlation.scores(filters[:, :, rows], objective.target)
        for part_residual, _ in _residual_pieces(objective, scores, rows):
            reference = reference + _energy(part_residual)
        if keep_scores:
            kept.append(scores)
    query = filters.new_zeros(batch)
    if objective.query_loss is not None:
        source_scores = objective.correlation.scores(filters, objective.source)
        query = 0.5 * objective.query_loss.energy(source_scores, objective.source_size)
    return Evaluation(
        _losses(objective, filters, reference, query), _rows_joined(kept, keep_scores)
    )


def steepest_descent_step(
    filters: Tensor,
    objective: Objective,
    step_scale: Tensor,
    keep_scores: bool = False,
    *,
    losses: bool = True,
) -> Step:
    """One GOCor step: ``w <- w - step_scale * alpha * g``.

    ``g = A^T(v act'(s) r) + lambda w [+ B^T(P^T P t)]`` with ``A``, ``B`` the correlations with
    the target and source features, and the Gauss-Newton step length
    ``alpha = |g|^2 / (|v act'(s) A g|^2 [+ |P B g|^2] + lambda |g|^2)``, per filter without a
    query loss and per batch element with one. ``before`` holds the objective at ``filters``
    (as :func:`evaluate`); ``keep_scores`` keeps its target scores ``s`` (one volume more).
    ``losses=False`` skips the objective's value (``before`` is ``None``): the passes over the
    residual and the filters that only it needs; the new filters are the same.

    The target cells are visited in blocks of whole rows: a block's scores, residual, gradient
    and curvature depend on its own filters only (the query loss, which couples them, is
    computed beforehand on the whole volume).
    """
    correlation, target, source = objective.correlation, objective.target, objective.source
    batch = filters.shape[0]

    query = filters.new_zeros(batch)
    query_gradient = None
    if objective.query_loss is not None:
        source_scores = correlation.scores(filters, source)  # t: (B, h, w, h'w')
        query, query_gradient = objective.query_loss.gradient(source_scores, objective.source_size)
        del source_scores

    reference = filters.new_zeros(batch)
    kept, gradients, curvatures = [], [], []
    for rows in _blocks(objective):
        block_filters = filters[:, :, rows]
        scores = correlation.scores(block_filters, target)  # (B, n, w, N)
        if keep_scores:
            kept.append(scores)
        slopes, weighted = [], []
        for part_residual, slope in _residual_pieces(objective, scores, rows):
            if losses:
                reference = reference + _energy(part_residual)
            slopes.append(slope)
            weighted.append(slope * part_residual)
        slope = _join(slopes)  # v act'(s): (B, n, w, N)
        gradient = correlation.adjoint(_join(weighted), target)  # (B, C, n, w)
        # + lambda w, in one pass
        gradient = torch.addcmul(gradient, objective.reg_weight, block_filters)
        if query_gradient is not None:
            gradient = gradient + correlation.adjoint(query_gradient[:, rows], source)
        along = slope * correlation.scores(gradient, target)  # (B, n, w, N)
        gradients.append(gradient)
        curvatures.append(along.square().sum(-1))  # (B, n, w)
    before = (
        Evaluation(_losses(objective, filters, reference, query), _rows_joined(kept, keep_scores))
        if losses
        else None
    )

    del query_gradient  # the next volume (scores of the gradient) takes its place
    gradient = gradients[0] if len(gradients) == 1 else torch.cat(gradients, 2)  # (B, C, h, w)
    curvature = curvatures[0] if len(curvatures) == 1 else torch.cat(curvatures, 1)  # (B, h, w)
    step_length = _step_length(objective, gradient, curvature)
    # w - step_scale * alpha * g, in one pass over the filters
    return Step(
        torch.addcmul(filters, step_scale * step_length, gradient, value=-1), before, step_length
    )


# -- what evaluate and the step share --------------------------------------------------------


def _blocks(objective: Objective) -> Iterator[slice]:
    """The blocks of whole target rows a sweep visits, in order (:attr:`Correlation.block_rows`)."""
    batch, _, height, width = objective.target.shape
    rows = objective.correlation.block_rows(batch, height, width, height * width)
    for first in range(0, height, rows):
        yield slice(first, min(first + rows, height))


def _residual_pieces(
    objective: Objective, scores: Tensor, rows: slice
) -> Iterator[tuple[Tensor, Tensor]]:
    """``(r, v act'(s))`` of a block's scores ``(B, n, w, N)``, piece by piece of its columns
    (:meth:`ResidualTables.pieces`, in column order, covering every column)."""
    pieces = objective.tables.pieces(rows)
    widths = [len(range(scores.shape[-1])[piece.columns]) for piece in pieces]
    # split, not slicing: its gradient is one concatenation, not a zero block per piece.
    parts = scores.split(widths, dim=-1) if len(pieces) > 1 else (scores,)
    for piece, part in zip(pieces, parts, strict=True):
        yield piece.residual(part)


def _energy(values: Tensor) -> Tensor:
    """``sum values^2`` per batch element: ``(B, ...) -> (B,)``."""
    return values.reshape(values.shape[0], -1).square().sum(1)


def _losses(objective: Objective, filters: Tensor, reference: Tensor, query: Tensor) -> Losses:
    """The objective's terms from ``sum r^2`` (``reference``) and the query loss."""
    return Losses(
        reference=0.5 * reference,
        query=query,
        regularizer=0.5 * objective.reg_weight * _energy(filters),
    )


def _rows_joined(blocks: list[Tensor], keep: bool) -> Tensor | None:
    """The blocks' target scores as one ``(B, h, w, N)`` volume (``None`` unless ``keep``)."""
    if not keep:
        return None
    return blocks[0] if len(blocks) == 1 else torch.cat(blocks, 1)


def _step_length(objective: Objective, gradient: Tensor, curvature: Tensor) -> Tensor:
    """Gauss-Newton ``alpha`` for ``gradient`` ``(B, C, h, w)`` with ``|v act'(s) A g|^2``
    per filter (``curvature``, ``(B, h, w)``): ``(B, 1, h, w)``, or ``(B, 1, 1, 1)`` with the
    query loss."""
    batch = gradient.shape[0]
    gradient_energy = gradient.square().sum(1, keepdim=True)  # (B, 1, h, w)
    if objective.query_loss is None:
        numerator = gradient_energy
        denominator = curvature.unsqueeze(1) + objective.reg_weight * numerator
    else:
        along_source = objective.query_loss.energy(
            objective.correlation.scores(gradient, objective.source), objective.source_size
        )
        numerator = gradient_energy.reshape(batch, -1).sum(1).view(batch, 1, 1, 1)
        denominator = (
            curvature.reshape(batch, -1).sum(1).view(batch, 1, 1, 1)
            + along_source.view(batch, 1, 1, 1)
            + objective.reg_weight * numerator
        )
    return numerator / denominator.clamp(min=_DENOMINATOR_FLOOR)


def _join(parts: list[Tensor]) -> Tensor:
    """Pieces of a block's columns, in order, as one ``(B, n, w, N)`` tensor."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, -1)
