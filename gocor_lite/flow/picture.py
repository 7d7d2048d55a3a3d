# SPDX-License-Identifier: MIT
"""The picture of a flow result: per level, the flow's colours, the source warped onto the
target and, where the true flow is known, the per-pixel error. The flow package's one module
that draws (matplotlib)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gocor_lite.flow.pipeline import FlowResult
from gocor_lite.images import to_uint8
from gocor_lite.warp import colour_wheel, endpoint_error, flow_to_colour


@dataclass(frozen=True)
class LevelPictures:
    """One level of a flow result as ``uint8 (H, W, 3)`` pictures, for an app or a notebook
    (no matplotlib figure: fast enough to redraw per interaction)."""

    title: str  # e.g. "level 3: local R=2 GOCor, 160x120 cells"
    flow: np.ndarray  # the flow's colours (Middlebury wheel, shared scale)
    warped_source: np.ndarray  # the source seen through the flow, on the target grid
    error: np.ndarray | None  # endpoint error, 0 (black) .. max_error px (white); None if unknown
    mean_error: float | None  # over pixels with a known true flow (pixels)


def level_pictures(
    result: FlowResult,
    true_flow: np.ndarray | None = None,
    max_magnitude: float | None = None,
    max_error: float = 10.0,
) -> list[LevelPictures]:
    """Every level of the first pair of ``result`` as pictures; ``true_flow`` ``(2, H, W)``
    (NaN = unknown) adds the error maps. Flow colours share one scale: ``max_magnitude``, or the
    largest length of the true flow (if given) or of the final flow."""
    from matplotlib import colormaps

    flows = [level.flow[0].detach().float().cpu() for level in result.levels]
    if max_magnitude is None:
        lengths = (torch.from_numpy(true_flow) if true_flow is not None else flows[-1]).norm(dim=0)
        finite = lengths[torch.isfinite(lengths)]
        max_magnitude = float(finite.max()) if finite.numel() else 1.0
    pictures = []
    for index, flow in enumerate(flows):
        error_picture, mean_error = None, None
        if true_flow is not None:
            error = endpoint_error(flow[None], torch.from_numpy(true_flow)[None])[0].numpy()
            known = np.isfinite(error)
            mean_error = float(error[known].mean()) if known.any() else float("nan")
            shade = colormaps["magma"](np.clip(np.where(known, error, 0) / max_error, 0, 1))
            error_picture = np.round(shade[..., :3] * 255 * known[..., None]).astype(np.uint8)
        pictures.append(
            LevelPictures(
                title=_describe(result, index),
                flow=flow_to_colour(flow, max_magnitude),
                warped_source=to_uint8(result.warped_source(index)[:1]),
                error=error_picture,
                mean_error=mean_error,
            )
        )
    return pictures


def _describe(result: FlowResult, index: int) -> str:
    level = result.levels[index]
    config = level.config
    kind = "global" if config.is_global else f"local R={config.search_radius}"
    corr = "GOCor" if config.gocor else "correlation"
    height, width = level.target_frame.grid
    return f"level {index}: {kind} {corr}, {width}x{height} cells"


def draw_flow(
    target: np.ndarray,
    source: np.ndarray,
    result: FlowResult,
    true_flow: np.ndarray | None = None,
    title: str | None = None,
) -> Any:
    """A matplotlib ``Figure``: the images, then one row per level (flow colours, warped
    source, and the endpoint error where ``true_flow`` ``(2, H, W)`` is known; NaN = unknown).

    All flows share one colour scale (the largest length of the final flow, or of the true
    flow where known), so that the rows can be compared.
    """
    from matplotlib.figure import Figure

    pictures = level_pictures(result, true_flow)
    columns = 3 if true_flow is not None else 2
    figure = Figure(figsize=(3.6 * columns, 2.9 * (len(pictures) + 1)), layout="constrained")
    axes = figure.subplots(len(pictures) + 1, columns, squeeze=False)
    axes[0, 0].imshow(target)
    axes[0, 0].set_title("target")
    axes[0, 1].imshow(source)
    axes[0, 1].set_title("source")
    legend = axes[0, 2] if true_flow is not None else axes[0, 1]
    legend.inset_axes((0.78, 0.0, 0.22, 0.22)).imshow(colour_wheel())
    if true_flow is not None:
        lengths = np.hypot(true_flow[0], true_flow[1])
        axes[0, 2].imshow(flow_to_colour(true_flow, float(np.nanmax(lengths))))
        axes[0, 2].set_title("true flow")
    for row, picture in zip(axes[1:], pictures, strict=True):
        row[0].imshow(picture.flow)
        row[0].set_title(picture.title, fontsize=9)
        row[1].imshow(picture.warped_source)
        row[1].set_title("source warped onto target", fontsize=9)
        if picture.error is not None:
            row[2].imshow(picture.error)
            row[2].set_title(f"endpoint error, 0-10 px; mean {picture.mean_error:.2f}", fontsize=9)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for axis in axes[0]:
        for inset in axis.child_axes:
            inset.set_axis_off()
    if title:
        figure.suptitle(title)
    return figure
