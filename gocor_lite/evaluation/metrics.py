# SPDX-License-Identifier: MIT
"""How far a flow or a set of matches is from the truth: the endpoint error per pixel, the PCK
of a dense flow, and the table metrics of a method on a set (:class:`Metrics`). The one home of
these measures: the app, the notebooks, training's held-out checks and the evaluation use them.

Convention:
    Errors are Euclidean distances in pixels between predicted and true source positions (or,
    the same differences, between flows). ``PCK-n`` is the percentage of counted matches whose
    error is below ``n`` pixels; unknown truth (NaN, or ``known`` false) is never counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from gocor_lite._checks import check_flow


def endpoint_error(flow: Tensor, true_flow: Tensor) -> Tensor:
    """Euclidean distance between two flows at every pixel; NaN where ``true_flow`` is unknown.

    Shapes: ``(B, 2, H, W), (B, 2, H, W) -> (B, H, W)``.
    """
    flow, true_flow = check_flow(flow), check_flow(true_flow)
    if flow.shape != true_flow.shape:
        raise ValueError(f"flows differ in shape: {tuple(flow.shape)} and {tuple(true_flow.shape)}")
    return (flow - true_flow).norm(dim=1)


def accuracy(
    flow: Tensor, true_flow: Tensor, threshold: float, source_size: tuple[int, int] | None = None
) -> float:
    """Fraction of the pixels with a known true flow whose endpoint error is below ``threshold``
    pixels (the PCK of dense matching). With ``source_size = (H', W')`` only pixels whose true
    match lies inside the source image count (the others have nothing to find). NaN if no
    pixel counts.
    """
    error = endpoint_error(flow, true_flow)
    known = torch.isfinite(error)
    if source_size is not None:
        height, width = true_flow.shape[2:]
        x = torch.arange(width, dtype=true_flow.dtype, device=true_flow.device) + true_flow[:, 0]
        y = torch.arange(height, dtype=true_flow.dtype, device=true_flow.device)[:, None]
        y = y + true_flow[:, 1]
        known &= (x > -0.5) & (x < source_size[1] - 0.5) & (y > -0.5) & (y < source_size[0] - 0.5)
    if not bool(known.any()):
        return math.nan
    return float((error[known] < threshold).to(torch.float64).mean())


@dataclass(frozen=True)
class Metrics:
    """Scores of one method on one set (percentages in ``[0, 100]``)."""

    aepe: float  # mean endpoint error, pixels
    aepe_cells: float  # the same in feature cells (NaN for dense flows)
    pck1: float  # % within 1 pixel
    pck3: float  # % within 3 pixels
    pck5: float  # % within 5 pixels
    pck10: float  # % within 10 pixels
    pck_cell: float  # % within one feature cell (the stride), NaN for dense flows
    count: int  # matches counted


def score(predicted: Tensor, truth: Tensor, known: Tensor, stride: float | None) -> Metrics:
    """Compare predicted with true positions (matches, or flows: the same differences).

    Shapes: predicted, truth ``(B, 2, h, w)`` pixels; known ``(B, h, w)`` bool (only those
    count). ``stride``: pixels per feature cell, for the cell metrics (``None``: NaN).
    """
    if predicted.shape != truth.shape or known.shape != truth[:, 0].shape:
        raise ValueError(
            f"expected predicted and truth (B, 2, h, w) and known (B, h, w), got "
            f"{tuple(predicted.shape)}, {tuple(truth.shape)}, {tuple(known.shape)}"
        )
    error = (predicted - truth).to(torch.float64).norm(dim=1)[known]
    if error.numel() == 0:
        raise ValueError("no known matches to score")

    def percent(threshold: float) -> float:
        return 100.0 * float((error < threshold).to(torch.float64).mean())

    nan = float("nan")
    return Metrics(
        aepe=float(error.mean()),
        aepe_cells=nan if stride is None else float(error.mean()) / stride,
        pck1=percent(1.0),
        pck3=percent(3.0),
        pck5=percent(5.0),
        pck10=percent(10.0),
        pck_cell=nan if stride is None else percent(stride),
        count=int(error.numel()),
    )
