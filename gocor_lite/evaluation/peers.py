# SPDX-License-Identifier: MIT
"""The methods a user would pick instead, as dense flows in the project's convention: OpenCV's
DIS optical flow (medium preset), Farneback's polynomial-expansion flow, and zero flow.

OpenCV (``opencv-python-headless``, the optional ``eval`` extra) is imported when a peer runs;
:func:`opencv_available` says whether it can. Both OpenCV flows run on grey images
(``cv2.cvtColor(..., COLOR_RGB2GRAY)``), single-scale input, with OpenCV's own settings: DIS with
``DISOPTICAL_FLOW_PRESET_MEDIUM`` and nothing changed; Farneback with the parameters of OpenCV's
dense optical-flow tutorial (pyramid scale 0.5, 3 levels, window 15, 3 iterations, polynomial
neighbourhood 5 with sigma 1.2). Nothing was tuned on the evaluation data.

Convention:
    Every peer maps ``target uint8 (H, W, 3)``, ``source uint8 (H', W', 3)`` to a flow
    ``float32 (2, H, W)`` on the target grid, x then y: target pixel ``p`` matches source pixel
    ``p + flow(p)``. OpenCV's ``calc(prev, next)`` returns ``f`` with ``prev(p) ~ next(p + f(p))``
    (checked in ``tests/test_peers.py`` with a known translation), so ``prev`` is the target and
    ``next`` the source. When the sizes differ, the source is resized to the target's size
    (bilinear, ``cv2.resize``), the flow found there, and mapped back to the source's own pixels:
    a position ``q`` in the resized source is ``(q + 0.5) * (W' / W) - 0.5`` in the original (and
    the same in y), pixel centres at integers.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from gocor_lite.evaluation.methods import DenseFlowMethod

#: Farneback's settings: those of OpenCV's dense optical-flow tutorial.
FARNEBACK = {
    "pyr_scale": 0.5,  # each pyramid level is half the one below
    "levels": 3,  # pyramid levels above the image
    "winsize": 15,  # averaging window, pixels
    "iterations": 3,  # per level
    "poly_n": 5,  # neighbourhood of the polynomial expansion, pixels
    "poly_sigma": 1.2,  # its Gaussian's sigma (OpenCV: 1.1 for poly_n 5, 1.5 for 7; tutorial 1.2)
    "flags": 0,
}

INSTALL_OPENCV = "pip install opencv-python-headless (the eval extra: pip install -e '.[eval]')"


def opencv_available() -> bool:
    """Whether ``cv2`` can be imported (the ``eval`` extra)."""
    return importlib.util.find_spec("cv2") is not None


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as error:
        raise ImportError(f"OpenCV's flows need cv2: {INSTALL_OPENCV}") from error
    return cv2


def _check_pair(target: np.ndarray, source: np.ndarray) -> None:
    for name, image in (("target", target), ("source", source)):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(
                f"{name} must be a uint8 (H, W, 3) image, got {image.dtype} {image.shape}"
            )


def _grey_pair(target: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey ``uint8`` images of the target's size (the source resized if it differs)."""
    cv2 = _cv2()
    _check_pair(target, source)
    height, width = target.shape[:2]
    if source.shape[:2] != (height, width):
        source = cv2.resize(source, (width, height), interpolation=cv2.INTER_LINEAR)
    grey = [
        np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)) for image in (target, source)
    ]
    return grey[0], grey[1]


def _to_project(flow: np.ndarray, target_shape: tuple[int, ...], source_shape: tuple[int, ...]):
    """OpenCV's ``(H, W, 2)`` flow into the resized source -> ``float32 (2, H, W)`` into the
    original source."""
    height, width = target_shape[:2]
    flow = flow.astype(np.float64).transpose(2, 0, 1)  # (2, H, W)
    scale_x, scale_y = source_shape[1] / width, source_shape[0] / height
    if (scale_x, scale_y) != (1.0, 1.0):
        x = np.arange(width, dtype=np.float64)[None, :]
        y = np.arange(height, dtype=np.float64)[:, None]
        flow[0] = (x + flow[0] + 0.5) * scale_x - 0.5 - x
        flow[1] = (y + flow[1] + 0.5) * scale_y - 0.5 - y
    return np.ascontiguousarray(flow, dtype=np.float32)


def dis_flow(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """OpenCV's DIS optical flow (Kroeger et al., ECCV 2016), medium preset, on grey images.

    Shapes: target ``uint8 (H, W, 3)``, source ``uint8 (H', W', 3)`` -> ``float32 (2, H, W)``.
    """
    cv2 = _cv2()
    previous, following = _grey_pair(target, source)
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(
        previous, following, None
    )
    return _to_project(flow, target.shape, source.shape)


def farneback_flow(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """OpenCV's Farneback flow (SCIA 2003) with :data:`FARNEBACK`, on grey images.

    Shapes: target ``uint8 (H, W, 3)``, source ``uint8 (H', W', 3)`` -> ``float32 (2, H, W)``.
    """
    cv2 = _cv2()
    previous, following = _grey_pair(target, source)
    flow = cv2.calcOpticalFlowFarneback(previous, following, None, **FARNEBACK)
    return _to_project(flow, target.shape, source.shape)


def zero_flow(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Every target pixel matches the source pixel at the same place: the baseline that any
    method must beat on small motions.

    Shapes: target ``uint8 (H, W, 3)``, source ``uint8 (H', W', 3)`` -> ``float32 (2, H, W)``
    of zeros (the same pixel coordinates, whatever the source's size).
    """
    _check_pair(target, source)
    return np.zeros((2, *target.shape[:2]), dtype=np.float32)


def peer_methods() -> list[DenseFlowMethod]:
    """The peers as :class:`~gocor_lite.evaluation.methods.DenseFlowMethod` s: DIS and Farneback
    (where OpenCV is installed) and zero flow."""
    methods = []
    if opencv_available():
        methods += [
            DenseFlowMethod("OpenCV DIS (medium)", dis_flow, "cv2.DISOpticalFlow, medium preset"),
            DenseFlowMethod(
                "OpenCV Farneback",
                farneback_flow,
                "cv2.calcOpticalFlowFarneback, tutorial settings",
            ),
        ]
    return [*methods, DenseFlowMethod("zero flow", zero_flow, "flow 0 everywhere")]
