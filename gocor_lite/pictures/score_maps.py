# SPDX-License-Identifier: MIT
"""Pictures of score maps: the one module of ``gocor_lite`` that draws (matplotlib).

Nothing here computes a correlation; every function takes volumes, traces and images that the
rest of the library produced and slices or draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from gocor_lite.core.grid import cell_to_pixel, pixel_to_cell_index
from gocor_lite.gocor.modules import GOCorTrace
from gocor_lite.pictures.marks import draw_marks
from gocor_lite.reading.matching import cells_to_pixels


def heatmap_overlay(
    image: np.ndarray,
    score_map: np.ndarray,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: str = "inferno",
    alpha: float = 0.6,
) -> np.ndarray:
    """Blend a score map (``(H, W)``, NaN = no score) over a dimmed grey version of ``image``.

    Returns ``uint8 (H, W, 3)``. Fast enough per click (numpy only, no figure).
    """
    from matplotlib import colormaps

    scores = np.asarray(score_map, dtype=np.float64)
    if scores.shape != image.shape[:2]:
        raise ValueError(f"score map {scores.shape} does not match image {image.shape[:2]}")
    finite = np.isfinite(scores)
    low = np.nanmin(scores) if vmin is None and finite.any() else (vmin or 0.0)
    high = np.nanmax(scores) if vmax is None and finite.any() else (vmax or 1.0)
    span = high - low if high > low else 1.0
    normalised = np.clip((np.where(finite, scores, low) - low) / span, 0.0, 1.0)
    colours = colormaps[cmap](normalised)[..., :3]
    grey = image.astype(np.float64).mean(axis=2, keepdims=True) / 255.0 * 0.8 + 0.1
    weight = np.where(finite, alpha, 0.0)[..., None]
    blended = (1 - weight) * grey + weight * colours
    return np.round(blended * 255).astype(np.uint8)


@dataclass(frozen=True)
class PixelMaps:
    """Score maps of one target cell, in image pixels, for drawing Fig. 1 of the GOCor paper.

    ``correlation_*``: the plain feature correlation; ``gocor_*[k]``: GOCor after ``k`` steps.
    ``*_target``: over the target image (what GOCor fits to the label); ``*_source``: over the
    source image (the output).
    """

    cell: tuple[int, int]  # (x, y) target cell
    pixel: tuple[float, float]  # centre of that cell in target pixels
    correlation_target: np.ndarray
    correlation_source: np.ndarray
    gocor_target: list[np.ndarray]
    gocor_source: list[np.ndarray]


def pixel_maps(
    target_features: Tensor,
    source_features: Tensor,
    trace: GOCorTrace,
    pixel: tuple[float, float],
    stride: int,
    target_size: tuple[int, int],
    source_size: tuple[int, int],
    batch_index: int = 0,
) -> PixelMaps:
    """Slice the maps of the target cell under ``pixel = (x, y)`` out of a global trace."""
    from gocor_lite.core.correlation import global_correlation

    grid = (target_features.shape[2], target_features.shape[3])
    cx, cy = pixel_to_cell_index(pixel[0], pixel[1], stride, grid)
    one = target_features[batch_index : batch_index + 1, :, cy : cy + 1, cx : cx + 1]
    b = batch_index

    def image(map_: Tensor, size: tuple[int, int]) -> np.ndarray:
        return cells_to_pixels(map_.detach().float().cpu(), stride, size).numpy()

    with torch.no_grad():
        on_target = global_correlation(one, target_features[b : b + 1])[0, 0, 0]
        on_source = global_correlation(one, source_features[b : b + 1])[0, 0, 0]
    return PixelMaps(
        cell=(cx, cy),
        pixel=(float(cell_to_pixel(cx, stride)), float(cell_to_pixel(cy, stride))),
        correlation_target=image(on_target, target_size),
        correlation_source=image(on_source, source_size),
        gocor_target=[image(v[b, cy, cx], target_size) for v in trace.target_scores],
        gocor_source=[image(v[b, cy, cx], source_size) for v in trace.volumes],
    )


def local_pixel_maps(
    target_features: Tensor,
    source_features: Tensor,
    trace: GOCorTrace,
    pixel: tuple[float, float],
    stride: int,
    target_size: tuple[int, int],
    source_size: tuple[int, int],
    batch_index: int = 0,
) -> PixelMaps:
    """:func:`pixel_maps` for a *local* trace: each map is the target cell's ``(2R+1)^2`` window
    placed on the image around that cell, NaN (transparent) outside it. The plain correlation
    is the local one (mean over channels), as local GOCor replaces it."""
    from gocor_lite.core.correlation import local_correlation
    from gocor_lite.reading.matching import local_window_on_source

    grid = (target_features.shape[2], target_features.shape[3])
    source_grid = (source_features.shape[2], source_features.shape[3])
    cx, cy = pixel_to_cell_index(pixel[0], pixel[1], stride, grid)
    b = batch_index
    radius = trace.volumes[0].shape[-1] // 2

    def image(volume: Tensor, on_grid: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
        window = local_window_on_source(
            volume[b : b + 1].detach().float().cpu(), (cx, cy), on_grid
        )[0]
        return cells_to_pixels(window, stride, size).numpy()

    target = target_features[b : b + 1]
    with torch.no_grad():
        on_target = local_correlation(target, target, radius)
        on_source = local_correlation(target, source_features[b : b + 1], radius)
    return PixelMaps(
        cell=(cx, cy),
        pixel=(float(cell_to_pixel(cx, stride)), float(cell_to_pixel(cy, stride))),
        correlation_target=image(on_target, grid, target_size),
        correlation_source=image(on_source, source_grid, source_size),
        gocor_target=[image(v, grid, target_size) for v in trace.target_scores],
        gocor_source=[image(v, source_grid, source_size) for v in trace.volumes],
    )


def draw_iterations(
    target_image: np.ndarray,
    source_image: np.ndarray,
    maps: PixelMaps,
    true_match: tuple[float, float] | None = None,
    title: str | None = None,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
):
    """The paper's Fig. 1 for one pixel: target-vs-target (top) and target-vs-source (bottom)
    score maps of the feature correlation and of GOCor iterations ``0..K``.

    Each map has its own colour scale and colour bar unless ``vmin`` and ``vmax`` fix one
    scale for all (to compare maps, or two figures, by colour); ``+`` marks the best score,
    ``o`` the clicked pixel (top) or the true match (bottom). Returns a matplotlib ``Figure``.
    """
    from matplotlib.figure import Figure

    columns = [("feature correlation", maps.correlation_target, maps.correlation_source)]
    columns += [
        (f"GOCor iteration {k}", on_target, on_source)
        for k, (on_target, on_source) in enumerate(
            zip(maps.gocor_target, maps.gocor_source, strict=True)
        )
    ]
    figure = Figure(figsize=(3.0 * (len(columns) + 1), 6.2), layout="constrained")
    axes = figure.subplots(2, len(columns) + 1, squeeze=False)
    x, y = maps.pixel
    axes[0, 0].imshow(target_image)
    draw_marks(axes[0, 0], {"target pixel": (x, y)}, size=10)
    axes[0, 0].set_title("target (clicked pixel)")
    axes[1, 0].imshow(source_image)
    axes[1, 0].set_title("source")
    draw_marks(axes[1, 0], {"true match": true_match}, size=10)
    rows = ((0, target_image, "target pixel", (x, y)), (1, source_image, "true match", true_match))
    for column, (name, on_target, on_source) in enumerate(columns, start=1):
        for (row, image, role, mark), score_map in zip(rows, (on_target, on_source), strict=True):
            axis = axes[row, column]
            axis.imshow(image.mean(axis=2), cmap="gray", alpha=1.0)
            shown = axis.imshow(score_map, cmap="inferno", alpha=0.75, vmin=vmin, vmax=vmax)
            figure.colorbar(shown, ax=axis, shrink=0.7)
            best_y, best_x = np.unravel_index(np.nanargmax(score_map), score_map.shape)
            axis.plot([best_x], [best_y], "+", color="white", ms=12, mew=2)
            draw_marks(axis, {role: mark}, size=10)
            axis.set_title(name if row == 0 else "")
    axes[0, 1].set_ylabel("target vs target")
    axes[1, 1].set_ylabel("target vs source")
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    if title:
        figure.suptitle(title)
    return figure


def draw_losses(trace: GOCorTrace, axis, batch_index: int = 0) -> None:
    """Plot the objective's terms against the iteration on a matplotlib axis."""
    losses = trace.losses
    steps = np.arange(trace.num_iter + 1)
    for name, values in (
        ("total", losses.total),
        ("reference", losses.reference),
        ("query", losses.query),
        ("regulariser", losses.regularizer),
    ):
        series = values[:, batch_index].detach().cpu().numpy()
        if name == "query" and not np.any(series):
            continue
        axis.plot(steps, series, marker="o", label=name)
    axis.set_yscale("log")
    axis.set_xlabel("iteration")
    axis.set_ylabel("loss")
    axis.set_xticks(steps)
    axis.legend()


def draw_distance_functions(trace: GOCorTrace, axis) -> None:
    """Plot the learned label ``y``, residual weight ``v`` and negative slope ``m`` by distance."""
    functions = trace.functions
    distance = functions.distance.cpu().numpy()
    axis.plot(distance, functions.label.cpu().numpy(), label="label y")
    axis.plot(distance, functions.residual_weight.cpu().numpy(), label="weight v")
    axis.plot(distance, functions.negative_slope.cpu().numpy(), label="negative slope m")
    axis.set_xlabel("distance between target cells (cells)")
    axis.legend()


def draw_score_map(
    axis,
    image: np.ndarray,
    score_map: Tensor | np.ndarray,
    *,
    marks: dict[str, tuple[float, float]] | None = None,
    title: str | None = None,
    cmap: str = "inferno",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    mark_best: bool = True,
    legend: bool = True,
):
    """Draw a per-cell map (``(h, w)``, NaN = none) over a grey ``image`` on a matplotlib axis.

    The map is stretched over the image's pixels (cell ``(x, y)`` covers the pixels of that
    cell when ``image`` is ``h * stride`` by ``w * stride``). ``marks`` maps a legend label to
    a pixel ``(x, y)``, drawn in the course's notation (:mod:`~gocor_lite.pictures.marks`: the
    label starts with its role, ``"target pixel"``, ``"true match"``, ...); ``mark_best`` adds
    the notation's white ``+`` on the highest score. Returns the
    ``AxesImage`` of the map. ``legend=False`` leaves the marks unlabelled on the axis.
    """
    scores = score_map.detach().cpu().numpy() if isinstance(score_map, Tensor) else score_map
    height, width = image.shape[:2]
    axis.imshow(image.mean(axis=2), cmap="gray", vmin=0, vmax=255)
    shown = axis.imshow(
        scores,
        cmap=cmap,
        alpha=0.75,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
        extent=(-0.5, width - 0.5, height - 0.5, -0.5),
    )
    if mark_best and np.isfinite(scores).any():
        best_y, best_x = np.unravel_index(np.nanargmax(scores), scores.shape)
        cell_height, cell_width = height / scores.shape[0], width / scores.shape[1]
        axis.plot(
            [(best_x + 0.5) * cell_width - 0.5],
            [(best_y + 0.5) * cell_height - 0.5],
            "+",
            color="white",
            ms=14,
            mew=2.5,
            label="best match",
        )
    draw_marks(axis, marks or {})
    if legend and (marks or mark_best):
        axis.legend(
            loc="lower right",
            fontsize="small",
            framealpha=0.8,
            facecolor="0.35",
            labelcolor="white",
        )
    if colorbar:
        axis.figure.colorbar(shown, ax=axis, shrink=0.8)
    if title:
        axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
    return shown
