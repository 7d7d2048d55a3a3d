# SPDX-License-Identifier: MIT
"""Pictures of flows: the Middlebury colour wheel (Baker et al., "A Database and Evaluation
Methodology for Optical Flow", IJCV 2011), and for any flows on a target's grid (named flow
tensors and the source image; a GLU-Net trace's levels, :func:`glunet_level_pictures`) the
flow's colours, the source warped onto the target and, where the true flow is known, the
per-pixel error.

Convention (colours):
    Endpoint errors run through matplotlib's ``magma`` colormap, from black (0 px) to pale
    yellow (``max_error`` or more); pixels whose true flow is unknown take
    :data:`UNKNOWN_COLOUR`, a teal that ``magma`` never reaches, so that "no ground truth" is
    never read as "no error".

    Flows:
    The wheel is a ring of 55 colours in six ramps (red -> yellow in 15 steps, yellow ->
    green 6, green -> cyan 4, cyan -> blue 11, blue -> magenta 13, magenta -> red 6). A flow
    ``(dx, dy)`` (image rows grow downwards) picks the position ``(atan2(-dy, -dx) / pi + 1) / 2``
    round the ring: right (+x) is red, down (+y) orange-yellow, left (-x) cyan, up (-y)
    blue-violet; saturation grows with length (white = no motion). :func:`colour_wheel` draws
    the legend.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gocor_lite.core.warp import warp
from gocor_lite.evaluation.metrics import endpoint_error
from gocor_lite.files.images import to_tensor, to_uint8
from gocor_lite.glunet.network import GLUNetTrace

ERROR_COLORMAP = "magma"  # endpoint error: black (0 px) .. pale yellow (max_error or more)
UNKNOWN_COLOUR = (0, 160, 160)  # RGB of pixels without a known true flow (far from any magma)

# (number of steps, start colour, end colour) of each ramp, RGB in [0, 1].
_RAMPS = (
    (15, (1.0, 0.0, 0.0), (1.0, 1.0, 0.0)),
    (6, (1.0, 1.0, 0.0), (0.0, 1.0, 0.0)),
    (4, (0.0, 1.0, 0.0), (0.0, 1.0, 1.0)),
    (11, (0.0, 1.0, 1.0), (0.0, 0.0, 1.0)),
    (13, (0.0, 0.0, 1.0), (1.0, 0.0, 1.0)),
    (6, (1.0, 0.0, 1.0), (1.0, 0.0, 0.0)),
)


def _ring() -> np.ndarray:
    """The 55 colours of the wheel, ``(55, 3)``: each ramp from its start, end excluded."""
    colours = []
    for steps, start, end in _RAMPS:
        fraction = np.arange(steps)[:, None] / steps
        colours.append(np.asarray(start) * (1 - fraction) + np.asarray(end) * fraction)
    return np.concatenate(colours)


def flow_to_colour(flow: Tensor | np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour a flow with the Middlebury wheel.

    Shapes: ``(2, H, W)`` or ``(1, 2, H, W)`` (x then y, pixels) -> ``uint8 (H, W, 3)``.
    Lengths are divided by ``max_magnitude`` (default: the largest finite length); up to 1 the
    colour fades from white, beyond it the full colour is darkened to 75%. NaN is black.

    >>> flow_to_colour(np.zeros((2, 1, 1))).tolist()
    [[[255, 255, 255]]]
    >>> flow_to_colour(np.array([[[1.0]], [[0.0]]])).tolist()  # right: red
    [[[255, 0, 0]]]
    """
    values = flow.detach().float().cpu().numpy() if isinstance(flow, Tensor) else np.asarray(flow)
    if values.ndim == 4 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 3 or values.shape[0] != 2:
        raise ValueError(f"flow must have shape (2, H, W) or (1, 2, H, W), got {values.shape}")
    dx, dy = values[0].astype(np.float64), values[1].astype(np.float64)
    known = np.isfinite(dx) & np.isfinite(dy)
    dx, dy = np.where(known, dx, 0.0), np.where(known, dy, 0.0)
    length = np.hypot(dx, dy)
    if max_magnitude is None:
        max_magnitude = float(length.max()) if length.size else 0.0
    radius = length / max_magnitude if max_magnitude > 0 else np.zeros_like(length)

    ring = _ring()
    count = len(ring)
    position = (np.arctan2(-dy, -dx) / np.pi + 1) / 2 * (count - 1)  # in [0, count - 1]
    below = np.floor(position).astype(int)
    above = (below + 1) % count
    fraction = (position - below)[..., None]
    colour = (1 - fraction) * ring[below] + fraction * ring[above]  # (H, W, 3)
    inside = (radius <= 1)[..., None]
    faded = 1 - radius[..., None] * (1 - colour)  # white at zero length
    colour = np.where(inside, faded, colour * 0.75)
    colour = np.where(known[..., None], colour, 0.0)
    return np.round(np.clip(colour, 0, 1) * 255).astype(np.uint8)


def colour_wheel(size: int = 65) -> np.ndarray:
    """The legend of :func:`flow_to_colour`: each pixel coloured by its offset from the centre,
    white outside the inscribed disc. Returns ``uint8 (size, size, 3)``."""
    centre = (size - 1) / 2
    offsets = np.arange(size) - centre
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    wheel = flow_to_colour(np.stack([dx, dy]), max_magnitude=centre)
    wheel[dx**2 + dy**2 > centre**2] = 255
    return wheel


@dataclass(frozen=True)
class LevelPictures:
    """One flow (one level of a network) as ``uint8 (H, W, 3)`` pictures, for an app or a
    notebook (no matplotlib figure: fast enough to redraw per interaction)."""

    title: str  # e.g. "level 3: local GOCor R=4, 32x32 cells of the 256x256 copies"
    flow: np.ndarray  # the flow's colours (Middlebury wheel, shared scale)
    warped_source: np.ndarray  # the source seen through the flow, on the target grid
    error: np.ndarray | None  # endpoint error (magma, 0 .. max_error px), UNKNOWN_COLOUR where
    # the true flow is unknown; None without a true flow at all
    mean_error: float | None  # over pixels with a known true flow (pixels)


FlowLike = Tensor | np.ndarray  # (2, H, W) or (1, 2, H, W), pixels, x then y


def _as_flow(flow: FlowLike) -> Tensor:
    """A flow as a float32 CPU tensor ``(2, H, W)``."""
    values = torch.as_tensor(np.asarray(flow)) if isinstance(flow, np.ndarray) else flow
    values = values.detach().to("cpu", torch.float32)
    if values.dim() == 4 and values.shape[0] == 1:
        values = values[0]
    if values.dim() != 3 or values.shape[0] != 2:
        raise ValueError(
            f"a flow must have shape (2, H, W) or (1, 2, H, W), got {tuple(values.shape)}"
        )
    return values


def flow_pictures(
    flows: Mapping[str, FlowLike],
    source: np.ndarray,
    true_flow: np.ndarray | None = None,
    max_magnitude: float | None = None,
    max_error: float = 10.0,
) -> list[LevelPictures]:
    """Flows on one target grid as pictures, in the mapping's order: each flow's colours, the
    source ``uint8 (H_s, W_s, 3)`` warped by it onto the target grid, and with ``true_flow``
    ``(2, H, W)`` (NaN = unknown) its error map (:data:`ERROR_COLORMAP` from 0 to ``max_error``
    px, :data:`UNKNOWN_COLOUR` where the truth is unknown). Flow colours share one scale:
    ``max_magnitude``, or the largest length of the true flow (if given) or of the last flow.

    Shapes: flows title -> ``(2, H, W)`` or ``(1, 2, H, W)`` in source pixels (target pixel
    ``p`` matches source pixel ``p + flow(p)``).
    """
    if not flows:
        raise ValueError("no flow to draw")
    images = to_tensor(source)
    tensors = [_as_flow(flow) for flow in flows.values()]
    warped = [to_uint8(warp(images, flow[None])) for flow in tensors]
    return _pictures(list(flows), tensors, warped, true_flow, max_magnitude, max_error)


def glunet_level_pictures(
    trace: GLUNetTrace,
    source: np.ndarray,
    true_flow: np.ndarray | None = None,
    max_magnitude: float | None = None,
    max_error: float = 10.0,
) -> list[LevelPictures]:
    """Every level of the first pair of a GLU-Net trace (:meth:`gocor_lite.glunet.GLUNet.trace`)
    as pictures, coarse to fine: each level's flow on the original target pixels and the source
    ``uint8 (H_s, W_s, 3)`` warped by it; as :func:`flow_pictures` otherwise."""
    flows = {view.title: view.flow[0] for view in trace.levels}
    return flow_pictures(flows, source, true_flow, max_magnitude, max_error)


def _pictures(
    titles: list[str],
    flows: list[Tensor],
    warped: list[np.ndarray],
    true_flow: np.ndarray | None,
    max_magnitude: float | None,
    max_error: float,
) -> list[LevelPictures]:
    """Flows ``(2, H, W)`` and warped sources as pictures on one colour scale."""
    from matplotlib import colormaps

    if max_magnitude is None:
        lengths = (torch.from_numpy(true_flow) if true_flow is not None else flows[-1]).norm(dim=0)
        finite = lengths[torch.isfinite(lengths)]
        max_magnitude = float(finite.max()) if finite.numel() else 1.0
    pictures = []
    for title, flow, warped_source in zip(titles, flows, warped, strict=True):
        error_picture, mean_error = None, None
        if true_flow is not None:
            error = endpoint_error(flow[None], torch.from_numpy(true_flow)[None])[0].numpy()
            known = np.isfinite(error)
            mean_error = float(error[known].mean()) if known.any() else float("nan")
            shade = colormaps[ERROR_COLORMAP](np.clip(np.where(known, error, 0) / max_error, 0, 1))
            error_picture = np.where(
                known[..., None],
                np.round(shade[..., :3] * 255),
                np.asarray(UNKNOWN_COLOUR, np.float64),
            ).astype(np.uint8)
        pictures.append(
            LevelPictures(
                title=title,
                flow=flow_to_colour(flow, max_magnitude),
                warped_source=warped_source,
                error=error_picture,
                mean_error=mean_error,
            )
        )
    return pictures


def draw_flow(
    target: np.ndarray,
    source: np.ndarray,
    flows: Mapping[str, FlowLike],
    true_flow: np.ndarray | None = None,
    title: str | None = None,
) -> Any:
    """A matplotlib ``Figure``: the images, then one row per flow of ``flows`` (title -> flow
    ``(2, H, W)`` on the target grid; e.g. a network's levels, coarse to fine): its colours, the
    warped source, and the endpoint error where ``true_flow`` ``(2, H, W)`` is known (NaN =
    unknown).

    All flows share one colour scale (the largest length of the last flow, or of the true
    flow where known), so that the rows can be compared.
    """
    return _figure(target, source, flow_pictures(flows, source, true_flow), true_flow, title)


def draw_glunet_flow(
    target: np.ndarray,
    source: np.ndarray,
    trace: GLUNetTrace,
    true_flow: np.ndarray | None = None,
    title: str | None = None,
) -> Any:
    """:func:`draw_flow` for a GLU-Net trace (:meth:`gocor_lite.glunet.GLUNet.trace`): one row
    per level of the network, coarse to fine (its extra refinement levels included)."""
    pictures = glunet_level_pictures(trace, source, true_flow)
    return _figure(target, source, pictures, true_flow, title)


def _figure(
    target: np.ndarray,
    source: np.ndarray,
    pictures: list[LevelPictures],
    true_flow: np.ndarray | None,
    title: str | None,
) -> Any:
    from matplotlib.figure import Figure

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
        row[0].set_title(textwrap.fill(picture.title, 44), fontsize=9)  # long level titles
        row[1].imshow(picture.warped_source)
        row[1].set_title("source warped onto target", fontsize=9)
        if picture.error is not None:
            row[2].imshow(picture.error)
            row[2].set_title(f"endpoint error, 0-10 px; mean {picture.mean_error:.2f}", fontsize=9)
    if true_flow is not None:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize
        from matplotlib.patches import Patch

        scale = ScalarMappable(Normalize(0, 10), ERROR_COLORMAP)
        bar = figure.colorbar(scale, ax=axes[1:, 2], shrink=0.6, label="endpoint error (px)")
        unknown = (UNKNOWN_COLOUR[0] / 255, UNKNOWN_COLOUR[1] / 255, UNKNOWN_COLOUR[2] / 255)
        bar.ax.legend(
            handles=[Patch(color=unknown, label="unknown")],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.02),
            fontsize=8,
            frameon=False,
        )
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for axis in axes[0]:
        for inset in axis.child_axes:
            inset.set_axis_off()
    if title:
        figure.suptitle(title)
    return figure


def flow_strip_png(
    flow: FlowLike,
    source: np.ndarray,
    true_flow: np.ndarray | None = None,
    title: str | None = None,
) -> bytes:
    """One flow ``(2, H, W)`` on the target grid as a PNG strip, fast (numpy and PIL, no
    matplotlib): its colours (with the colour wheel in its corner), the source ``uint8 (H_s,
    W_s, 3)`` warped onto the target, and the endpoint error (:data:`ERROR_COLORMAP`, 0 to
    10 px; :data:`UNKNOWN_COLOUR` where unknown) when ``true_flow`` ``(2, H, W)`` is given;
    ``title`` on a band above."""
    import io

    from PIL import Image, ImageDraw

    picture = flow_pictures({title or "": flow}, source, true_flow)[0]
    flow = picture.flow.copy()
    wheel = colour_wheel(max(16, min(flow.shape[:2]) // 5))
    flow[-wheel.shape[0] :, -wheel.shape[1] :] = wheel
    parts = [flow, picture.warped_source]
    if picture.error is not None:
        parts.append(picture.error)
    gap = np.full((flow.shape[0], 4, 3), 255, dtype=np.uint8)
    strip = np.concatenate([part for item in parts for part in (item, gap)][:-1], axis=1)
    band = np.full((18 if title else 0, strip.shape[1], 3), 255, dtype=np.uint8)
    image = Image.fromarray(np.concatenate([band, strip], axis=0))
    if title:
        ImageDraw.Draw(image).text((4, 3), title, fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return buffer.getvalue()
