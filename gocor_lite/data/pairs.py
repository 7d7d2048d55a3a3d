# SPDX-License-Identifier: MIT
"""A target/source pair at the app/notebook edge, with its ground-truth flow where one is known,
and resizing a pair with its flow. Every kind of pair (bundled examples, synthetic warps, real
pairs with ground truth, the user's own images) is an :class:`ExamplePair`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from gocor_lite.files.images import resize_to_fit


@dataclass(frozen=True)
class ExamplePair:
    """A target/source pair at the app/notebook edge.

    ``flow``: ``float32 (2, H, W)`` on the target grid in pixels (x then y), target pixel ``p``
    matching source pixel ``p + flow[:, p]``; NaN where unknown. ``None`` if nothing is known.
    """

    name: str
    description: str
    target: np.ndarray  # uint8 (H, W, 3)
    source: np.ndarray  # uint8 (H', W', 3)
    flow: np.ndarray | None = None


def resize_pair(pair: ExamplePair, max_side: int, multiple: int = 1) -> ExamplePair:
    """Resize both images of a pair (longer side ``max_side``, sides multiples of ``multiple``,
    see :func:`~gocor_lite.files.images.resize_to_fit`) and carry the ground-truth flow along.

    The new flow at target pixel ``p'`` is read from the old flow at the nearest old pixel of
    ``p'`` and rescaled with each image's own scale, so that it still points to the same scene
    point (exact for a shift when both images keep their aspect ratio).
    """
    target = resize_to_fit(pair.target, max_side, multiple)
    source = resize_to_fit(pair.source, max_side, multiple)
    flow = None
    if pair.flow is not None:
        (old_height, old_width), (height, width) = pair.target.shape[:2], target.shape[:2]
        source_scale_y = source.shape[0] / pair.source.shape[0]
        source_scale_x = source.shape[1] / pair.source.shape[1]
        # Old target pixel of each new one (pixel centres at integers, as in core/grid.py).
        old_x = (np.arange(width) + 0.5) * old_width / width - 0.5
        old_y = (np.arange(height) + 0.5) * old_height / height - 0.5
        columns = np.clip(np.round(old_x).astype(int), 0, old_width - 1)
        rows = np.clip(np.round(old_y).astype(int), 0, old_height - 1)
        old_flow = pair.flow[:, rows[:, None], columns[None, :]]  # (2, H', W')
        source_x = (old_x[None, :] + old_flow[0] + 0.5) * source_scale_x - 0.5
        source_y = (old_y[:, None] + old_flow[1] + 0.5) * source_scale_y - 0.5
        flow = np.stack(
            [source_x - np.arange(width)[None, :], source_y - np.arange(height)[:, None]]
        ).astype(np.float32)
    return dataclasses.replace(pair, target=target, source=source, flow=flow)
