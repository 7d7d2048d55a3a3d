# SPDX-License-Identifier: MIT
"""The gallery: example pairs, each with its ground-truth flow where one is known.

Shifted crops and synthetic warps are cut from images that ship inside the scikit-image package;
the real pairs (:mod:`gocor_lite.data.real`) come from scikit-image and from Debian's
``opencv-doc`` package, and are listed only where their files are installed. Nothing is
downloaded; ``assets/README.md`` lists every source and licence.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gocor_lite.data.pairs import ExamplePair
from gocor_lite.data.real import REAL_PAIRS, load_real_pair, real_pair_available
from gocor_lite.data.synthetic import make_pair
from gocor_lite.files.images import as_rgb_uint8, resize_to_fit


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


def _astronaut_warp() -> ExamplePair:
    from skimage import data

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

    return make_pair(
        data.gravel()[96:352, 64:384],
        seed=5,
        kind="tps",
        name="gravel-warp",
        description="A random thin-plate-spline deformation of a gravel texture (repeated "
        "structure), with photometric changes; the flow is exact (synthetic).",
    )


# The gallery's order; the first available pair opens the explorer and the figure: the graffiti
# pair, on which `python -m gocor_lite.cli.evaluate` finds trained global GOCor matching more target
# cells than global correlation (docs/evaluation.md; checked by tests/test_rules.py).
_EXAMPLES: dict[str, Callable[[], ExamplePair]] = {
    "graffiti-1-3": lambda: load_real_pair("graffiti-1-3"),
    "brick-shift": _brick,
    "chelsea-shift": _chelsea,
    "stereo-motorcycle": lambda: load_real_pair("stereo-motorcycle"),
    "stereo-aloe": lambda: load_real_pair("stereo-aloe"),
    "astronaut-warp": _astronaut_warp,
    "gravel-warp": _gravel_warp,
}


def register_example(name: str, loader: Callable[[], ExamplePair]) -> None:
    """Add a pair to the gallery (used by modules that make pairs, such as synthetic warps)."""
    _EXAMPLES[name] = loader


def example_names() -> list[str]:
    """Names accepted by :func:`load_example`, the default first: every pair whose files are
    on this machine (a real pair of ``opencv-doc`` is left out where that package is not)."""
    return [name for name in _EXAMPLES if name not in REAL_PAIRS or real_pair_available(name)]


def load_example(name: str) -> ExamplePair:
    """Load the gallery pair called ``name``."""
    if name not in _EXAMPLES:
        raise ValueError(f"unknown example pair {name!r}; available: {example_names()}")
    return _EXAMPLES[name]()
