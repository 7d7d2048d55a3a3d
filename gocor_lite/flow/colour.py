# SPDX-License-Identifier: MIT
"""The usual colour coding of optical flow, the Middlebury colour wheel (Baker et al., "A
Database and Evaluation Methodology for Optical Flow", IJCV 2011): hue = direction,
saturation = length, white = no motion.

Convention:
    The wheel is a ring of 55 colours in six ramps (red -> yellow in 15 steps, yellow ->
    green 6, green -> cyan 4, cyan -> blue 11, blue -> magenta 13, magenta -> red 6). A flow
    ``(dx, dy)`` (image rows grow downwards) picks the position ``(atan2(-dy, -dx) / pi + 1) / 2``
    round the ring: right (+x) is red, down (+y) orange-yellow, left (-x) cyan, up (-y)
    blue-violet. :func:`colour_wheel` draws the legend.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

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
