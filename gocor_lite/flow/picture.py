# SPDX-License-Identifier: MIT
"""The picture of a flow result: per level, the flow's colours, the source warped onto the
target and, where the true flow is known, the per-pixel error. The flow package's one module
that draws (matplotlib)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gocor_lite.flow.colour import colour_wheel, flow_to_colour
from gocor_lite.flow.geometry import endpoint_error
from gocor_lite.flow.pipeline import FlowResult
from gocor_lite.images import to_uint8


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

    flows = [level.flow[0].detach().float().cpu() for level in result.levels]
    scale_from = torch.from_numpy(true_flow) if true_flow is not None else flows[-1]
    lengths = scale_from.norm(dim=0)
    max_magnitude = float(lengths[torch.isfinite(lengths)].max()) if lengths.numel() else 1.0
    columns = 3 if true_flow is not None else 2
    rows = len(flows) + 1
    figure = Figure(figsize=(3.6 * columns, 2.9 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    axes[0, 0].imshow(target)
    axes[0, 0].set_title("target")
    axes[0, 1].imshow(source)
    axes[0, 1].set_title("source")
    if true_flow is not None:
        axes[0, 2].imshow(flow_to_colour(true_flow, max_magnitude))
        axes[0, 2].set_title("true flow")
        axes[0, 2].inset_axes((0.78, 0.0, 0.22, 0.22)).imshow(colour_wheel())
    else:
        axes[0, 1].inset_axes((0.78, 0.0, 0.22, 0.22)).imshow(colour_wheel())
    for index, flow in enumerate(flows):
        row = axes[index + 1]
        row[0].imshow(flow_to_colour(flow, max_magnitude))
        row[0].set_title(_describe(result, index), fontsize=9)
        row[1].imshow(to_uint8(result.warped_source(index)[:1]))
        row[1].set_title("source warped onto target", fontsize=9)
        if true_flow is not None:
            error = endpoint_error(flow[None], torch.from_numpy(true_flow)[None])[0].numpy()
            known = np.isfinite(error)
            shown = row[2].imshow(np.where(known, error, np.nan), cmap="magma", vmin=0, vmax=10)
            mean = float(error[known].mean()) if known.any() else float("nan")
            row[2].set_title(f"endpoint error (px), mean {mean:.2f}", fontsize=9)
            figure.colorbar(shown, ax=row[2], shrink=0.8)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for axis in axes[0]:
        for inset in axis.child_axes:
            inset.set_axis_off()
    if title:
        figure.suptitle(title)
    return figure
