# SPDX-License-Identifier: MIT
"""Bundled example pairs, each with its ground-truth flow where one is known.

Every pair is cut from images that ship inside the scikit-image package (nothing is
downloaded); ``assets/README.md`` lists their sources and licences.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gocor_lite.images import as_rgb_uint8, resize_to_fit


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


def _shifted_crops(
    image: np.ndarray,
    size: tuple[int, int],
    target_corner: tuple[int, int],
    source_corner: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two crops of one image; returns (target, source, flow). Corners are ``(row, col)``.

    The flow is NaN where the target pixel's match falls outside the source crop (as for the
    synthetic warps): there is nothing there to find.
    """
    height, width = size
    (ty, tx), (sy, sx) = target_corner, source_corner
    target = image[ty : ty + height, tx : tx + width]
    source = image[sy : sy + height, sx : sx + width]
    # The image point at target pixel p is at source pixel p + (target_corner - source_corner).
    flow = np.empty((2, height, width), dtype=np.float32)
    flow[0], flow[1] = tx - sx, ty - sy
    x = np.arange(width) + (tx - sx)
    y = np.arange(height) + (ty - sy)
    outside = ((y < 0) | (y > height - 1))[:, None] | ((x < 0) | (x > width - 1))[None, :]
    flow[:, outside] = np.nan
    return as_rgb_uint8(target), as_rgb_uint8(source), flow


def _brick() -> ExamplePair:
    from skimage import data

    target, source, flow = _shifted_crops(data.brick(), (256, 320), (40, 30), (76, 92))
    return ExamplePair(
        "brick-shift",
        "Two overlapping crops of a brick wall (repeated structure), shifted by (-62, -36) px.",
        target,
        source,
        flow,
    )


def _chelsea() -> ExamplePair:
    from skimage import data

    target, source, flow = _shifted_crops(data.chelsea(), (240, 320), (20, 10), (44, 110))
    return ExamplePair(
        "chelsea-shift",
        "Two overlapping crops of a photograph of a cat, shifted by (-100, -24) px.",
        target,
        source,
        flow,
    )


def _stereo() -> ExamplePair:
    from skimage import data

    left, right, disparity = data.stereo_motorcycle()
    flow = np.full((2, *disparity.shape), np.nan, dtype=np.float32)
    valid = np.isfinite(disparity) & (disparity > 0)
    # Left pixel (x, y) appears in the right image at (x - d, y).
    flow[0][valid] = -disparity[valid]
    flow[1][valid] = 0.0
    return ExamplePair(
        "stereo-motorcycle",
        "Middlebury 2014 stereo pair (left = target, right = source) with ground-truth disparity.",
        as_rgb_uint8(left),
        as_rgb_uint8(right),
        flow,
    )


def _astronaut_warp() -> ExamplePair:
    from skimage import data

    from gocor_lite.images import resize_to_fit
    from gocor_lite.synthetic import make_pair

    return make_pair(
        resize_to_fit(data.astronaut(), 320),
        seed=3,
        kind="homography",
        name="astronaut-warp",
        description="A random homography of a photograph of an astronaut, with brightness, "
        "colour, blur and noise changes; the flow is exact (synthetic).",
    )


def _gravel_warp() -> ExamplePair:
    from skimage import data

    from gocor_lite.synthetic import make_pair

    return make_pair(
        data.gravel()[96:352, 64:384],
        seed=5,
        kind="tps",
        name="gravel-warp",
        description="A random thin-plate-spline deformation of a gravel texture (repeated "
        "structure), with photometric changes; the flow is exact (synthetic).",
    )


_EXAMPLES: dict[str, Callable[[], ExamplePair]] = {
    "brick-shift": _brick,
    "chelsea-shift": _chelsea,
    "stereo-motorcycle": _stereo,
    "astronaut-warp": _astronaut_warp,
    "gravel-warp": _gravel_warp,
}


def register_example(name: str, loader: Callable[[], ExamplePair]) -> None:
    """Add a pair to the gallery (used by modules that make pairs, such as synthetic warps)."""
    _EXAMPLES[name] = loader


def example_names() -> list[str]:
    """Names accepted by :func:`load_example`, the default first."""
    return list(_EXAMPLES)


def load_example(name: str) -> ExamplePair:
    """Load the bundled pair called ``name``."""
    if name not in _EXAMPLES:
        raise ValueError(f"unknown example pair {name!r}; available: {example_names()}")
    return _EXAMPLES[name]()


def resize_pair(pair: ExamplePair, max_side: int, multiple: int = 1) -> ExamplePair:
    """Resize both images of a pair (longer side ``max_side``, sides multiples of ``multiple``,
    see :func:`~gocor_lite.images.resize_to_fit`) and carry the ground-truth flow along.

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
        # Old target pixel of each new one (pixel centres at integers, as in grid.py).
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
