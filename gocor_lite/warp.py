# SPDX-License-Identifier: MIT
"""Using a flow: warp a source image (or feature map) onto the target grid, rescale a flow to
another resolution, colour it with the usual Middlebury colour wheel (Baker et al., "A Database
and Evaluation Methodology for Optical Flow", IJCV 2011), and measure its error against a known
flow. The one home of these helpers: :mod:`gocor_lite.flow` re-exports them.

Convention:
    Flow is ``(B, 2, H, W)`` on the target grid, channel 0 = x, channel 1 = y, in pixels of
    that grid: target pixel ``p`` corresponds to source pixel ``p + flow(p)`` (GLU-Net's
    convention). Pixel centres are at integer coordinates; a grid of size ``(H, W)`` covers
    ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` (``align_corners=False``, as :mod:`gocor_lite.grid`).

Convention (colours):
    The wheel is a ring of 55 colours in six ramps (red -> yellow in 15 steps, yellow ->
    green 6, green -> cyan 4, cyan -> blue 11, blue -> magenta 13, magenta -> red 6). A flow
    ``(dx, dy)`` (image rows grow downwards) picks the position ``(atan2(-dy, -dx) / pi + 1) / 2``
    round the ring: right (+x) is red, down (+y) orange-yellow, left (-x) cyan, up (-y)
    blue-violet; saturation grows with length (white = no motion). :func:`colour_wheel` draws
    the legend.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def _check_flow(flow: Tensor) -> Tensor:
    if not isinstance(flow, Tensor) or flow.dim() != 4 or flow.shape[1] != 2:
        shape = tuple(flow.shape) if isinstance(flow, Tensor) else type(flow)
        raise ValueError(f"flow must have shape (B, 2, H, W), got {shape}")
    return flow


def warp(source: Tensor, flow: Tensor) -> Tensor:
    """Resample ``source`` at ``p + flow(p)`` for every target pixel ``p`` (backward warping).

    Shapes: source ``(B, C, H', W')``, flow ``(B, 2, H, W)`` -> ``(B, C, H, W)``. Bilinear;
    zero where ``p + flow(p)`` falls outside the source. Works for images and feature maps alike
    (give the flow in units of the source's own grid).

    >>> image = torch.arange(6.0).view(1, 1, 2, 3)
    >>> shift = torch.zeros(1, 2, 2, 3); shift[:, 0] = 1.0  # every pixel looks one to the right
    >>> warp(image, shift)[0, 0]
    tensor([[1., 2., 0.],
            [4., 5., 0.]])
    """
    flow = _check_flow(flow)
    if source.dim() != 4 or source.shape[0] != flow.shape[0]:
        raise ValueError(
            f"source must be (B, C, H', W') with the flow's batch size, got {tuple(source.shape)} "
            f"and flow {tuple(flow.shape)}"
        )
    height, width = flow.shape[2:]
    source_height, source_width = source.shape[2:]
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device)
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device)
    x = xs.view(1, 1, width) + flow[:, 0]  # (B, H, W), source pixels
    y = ys.view(1, height, 1) + flow[:, 1]
    # Pixel -> [-1, 1] with align_corners=False: pixel -0.5 is -1 and pixel W'-0.5 is +1.
    grid = torch.stack([(2 * x + 1) / source_width - 1, (2 * y + 1) / source_height - 1], dim=-1)
    return F.grid_sample(
        source, grid.to(source.dtype), mode="bilinear", padding_mode="zeros", align_corners=False
    )


def resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """The same flow on a grid of another ``size = (H2, W2)``: resampled bilinearly, and its x
    and y components scaled by ``W2 / W`` and ``H2 / H`` so that it still points at the same
    place of the (equally rescaled) source image.

    Shapes: ``(B, 2, H, W) -> (B, 2, H2, W2)``. Going from image pixels to feature cells of
    stride ``s`` is ``resize_flow(flow, (H // s, W // s))``. No antialiasing: each new pixel
    reads the flow at its own centre (exact for an affine flow), as the cell-centre convention
    of :mod:`gocor_lite.grid` wants.

    >>> flow = torch.ones(1, 2, 4, 6)
    >>> resize_flow(flow, (8, 3))[0, :, 0, 0].tolist()
    [0.5, 2.0]
    """
    flow = _check_flow(flow)
    height, width = flow.shape[2:]
    new_height, new_width = size
    scale = flow.new_tensor([new_width / width, new_height / height]).view(1, 2, 1, 1)
    resized = F.interpolate(
        flow, size=(new_height, new_width), mode="bilinear", align_corners=False
    )
    return resized * scale


def endpoint_error(flow: Tensor, true_flow: Tensor) -> Tensor:
    """Euclidean distance between two flows at every pixel; NaN where ``true_flow`` is unknown.

    Shapes: ``(B, 2, H, W), (B, 2, H, W) -> (B, H, W)``.
    """
    flow, true_flow = _check_flow(flow), _check_flow(true_flow)
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
