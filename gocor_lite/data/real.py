# SPDX-License-Identifier: MIT
"""Real image pairs with ground truth that nobody on this project made, read at run time.

One loader per pair, each returning an :class:`~gocor_lite.data.pairs.ExamplePair` at the
files' own resolution:

* :func:`load_motorcycle`: the Middlebury 2014 motorcycle stereo pair that ships inside
  scikit-image (``skimage.data.stereo_motorcycle``), with its disparity;
* :func:`load_aloe`: the Middlebury 2006 aloe stereo pair (``aloeL.jpg``, ``aloeR.jpg``,
  ``aloeGT.png``) of Debian's ``opencv-doc`` package;
* :func:`load_graffiti`: the Oxford graffiti pair ``graf1.png`` / ``graf3.png`` with its
  homography ``H1to3p.xml`` (a wide viewpoint change), also from ``opencv-doc``.

The ``opencv-doc`` files are not bundled (``assets/README.md`` says why and cites them); they
are read from :data:`OPENCV_DATA` (or the folder named by the environment variable
``GOCOR_OPENCV_DATA``). A missing file raises :class:`MissingDataError` with one line that
says what is missing and how to install it.

Convention:
    Target pixel ``p = (x, y)`` (0-based, pixel centres at integers, ``x`` the column) matches
    source pixel ``p + flow(p)``; ``flow`` is ``float32 (2, H, W)`` on the target grid, x then
    y, NaN where the truth is unknown or the match falls outside the source's pixel centres
    ``[0, W'-1] x [0, H'-1]`` (as for :mod:`~gocor_lite.data.synthetic`).

What the files say, checked on the images themselves (``tests/test_real_pairs.py`` pins a
hand-measured point of each pair):

* ``H1to3p.xml`` maps graf1 pixels to graf3 pixels (``x3 ~ H x1``) in 0-based pixel
  coordinates: so graf1 is the target and graf3 the source. (Sampling graf3 at ``H p`` over
  graf1's grid gives its smallest photometric error with no offset; the 1-based reading, or an
  offset of a quarter pixel either way, gives a larger one.)
* ``aloeGT.png`` is the disparity of the left image in pixels at the images' own resolution
  (1282x1110, no scale factor), ``0`` meaning unknown: left pixel ``(x, y)`` is right pixel
  ``(x - d, y)``. So the left image is the target and the right one the source.
* ``stereo_motorcycle``'s disparity is a float32 array in pixels of the images as shipped,
  ``inf`` where unknown; left = target, right = source, as for aloe.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gocor_lite.data.pairs import ExamplePair
from gocor_lite.files.images import as_rgb_uint8

#: Where Debian's ``opencv-doc`` puts OpenCV's sample data.
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
#: How to get it, said in every error about a missing file.
OPENCV_INSTALL = "apt-get install opencv-doc"


class MissingDataError(FileNotFoundError):
    """A data file that an installed package provides is not there."""


def opencv_data_dir() -> Path:
    """The folder of OpenCV's sample data: ``$GOCOR_OPENCV_DATA`` if set, else
    :data:`OPENCV_DATA`."""
    return Path(os.environ.get("GOCOR_OPENCV_DATA", OPENCV_DATA))


def opencv_file(name: str) -> Path:
    """The path of ``name`` in OpenCV's sample data; :class:`MissingDataError` if absent."""
    path = opencv_data_dir() / name
    if not path.is_file():
        raise MissingDataError(
            f"{path} is missing: it comes with Debian's opencv-doc package ({OPENCV_INSTALL})"
        )
    return path


def read_image_file(path: Path, max_side: int | None = None) -> np.ndarray:
    """An image file as ``uint8 (H, W, 3)`` RGB (grey images are repeated on three channels).

    ``max_side``: a JPEG may be decoded at a reduced scale (1/2, 1/4 or 1/8, PIL's draft mode)
    as long as both sides stay at least ``max_side`` (faster; the caller resizes the rest).
    """
    from PIL import Image

    with Image.open(path) as image:
        if max_side is not None:
            image.draft("RGB", (max_side, max_side))
        return as_rgb_uint8(np.asarray(image.convert("RGB")))


def read_opencv_matrix(path: Path, name: str | None = None) -> np.ndarray:
    """A matrix of an OpenCV ``FileStorage`` XML file (``<opencv_storage>``, an element with
    ``type_id="opencv-matrix"`` holding ``rows``, ``cols``, ``dt`` and ``data``) as float64.

    ``name``: the element's tag (default: the first matrix in the file).
    """
    root = ElementTree.parse(path).getroot()
    if root.tag != "opencv_storage":
        raise ValueError(f"{path} is not an OpenCV FileStorage XML file (root <{root.tag}>)")
    for element in root:
        if element.get("type_id") != "opencv-matrix" or (name is not None and element.tag != name):
            continue
        rows, cols = int(element.findtext("rows", "")), int(element.findtext("cols", ""))
        values = np.array((element.findtext("data") or "").split(), dtype=np.float64)
        if values.size != rows * cols:
            raise ValueError(f"{path}: <{element.tag}> has {values.size} values, not {rows}x{cols}")
        return values.reshape(rows, cols)
    raise ValueError(f"{path} holds no OpenCV matrix{'' if name is None else f' <{name}>'}")


def _mark_outside(flow: np.ndarray, source_shape: tuple[int, ...]) -> np.ndarray:
    """NaN where ``p + flow(p)`` leaves the source's pixel centres ``[0, W'-1] x [0, H'-1]``."""
    height, width = flow.shape[1:]
    x = np.arange(width, dtype=np.float64)[None, :] + flow[0]
    y = np.arange(height, dtype=np.float64)[:, None] + flow[1]
    outside = ~((x >= 0) & (x <= source_shape[1] - 1) & (y >= 0) & (y <= source_shape[0] - 1))
    flow[:, outside] = np.nan
    return flow


def homography_flow(
    homography: np.ndarray, target_shape: tuple[int, ...], source_shape: tuple[int, ...]
) -> np.ndarray:
    """The flow of a homography that maps target pixels to source pixels.

    Shapes: ``homography (3, 3)`` acting on 0-based homogeneous pixel coordinates
    ``(x, y, 1)`` of the target -> flow ``float32 (2, H, W)`` for ``target_shape = (H, W, ...)``,
    NaN where the match falls outside a source of ``source_shape = (H', W', ...)``.
    """
    homography = np.asarray(homography, dtype=np.float64)
    if homography.shape != (3, 3):
        raise ValueError(f"a homography is a 3x3 matrix, got shape {homography.shape}")
    height, width = target_shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    points = np.stack([x, y, np.ones_like(x)])  # (3, H, W)
    mapped = np.einsum("ij,jhw->ihw", homography, points)
    flow = np.stack([mapped[0] / mapped[2] - x, mapped[1] / mapped[2] - y])
    flow[:, ~(mapped[2] > 0)] = np.nan  # behind the camera: no match
    return _mark_outside(flow, source_shape).astype(np.float32)


def disparity_flow(disparity: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The flow of a rectified stereo pair from the left view's disparity.

    Left pixel ``(x, y)`` is right pixel ``(x - d, y)``: flow ``(-d, 0)`` where ``known``, NaN
    elsewhere and where ``x - d < 0`` (outside the right image).

    Shapes: disparity, known ``(H, W)`` -> ``float32 (2, H, W)``.
    """
    flow = np.full((2, *disparity.shape), np.nan, dtype=np.float64)
    flow[0][known] = -disparity[known]
    flow[1][known] = 0.0
    return _mark_outside(flow, disparity.shape).astype(np.float32)


def load_motorcycle() -> ExamplePair:
    """``skimage.data.stereo_motorcycle``: left = target, right = source, 500x741."""
    from skimage import data

    left, right, disparity = data.stereo_motorcycle()
    known = np.isfinite(disparity) & (disparity > 0)
    return ExamplePair(
        "stereo-motorcycle",
        "Middlebury 2014 stereo pair (left = target, right = source) with ground-truth disparity.",
        as_rgb_uint8(left),
        as_rgb_uint8(right),
        disparity_flow(disparity.astype(np.float64), known),
    )


def load_aloe() -> ExamplePair:
    """Middlebury 2006 aloe (``opencv-doc``): left = target, right = source, 1282x1110;
    ``aloeGT.png`` is the left disparity in pixels, 0 = unknown."""
    left = read_image_file(opencv_file("aloeL.jpg"))
    right = read_image_file(opencv_file("aloeR.jpg"))
    from PIL import Image

    with Image.open(opencv_file("aloeGT.png")) as image:
        disparity = np.asarray(image.convert("L"), dtype=np.float64)
    if disparity.shape != left.shape[:2]:
        raise ValueError(f"aloeGT.png is {disparity.shape}, the images {left.shape[:2]}")
    return ExamplePair(
        "stereo-aloe",
        "Middlebury 2006 aloe stereo pair (left = target, right = source) with ground-truth "
        "disparity; a plant before a patterned cloth.",
        left,
        right,
        disparity_flow(disparity, disparity > 0),
    )


def load_graffiti() -> ExamplePair:
    """Oxford graffiti 1 -> 3 (``opencv-doc``): graf1 = target, graf3 = source, 800x640;
    the flow is the homography ``H1to3p.xml`` (graf1 pixels to graf3 pixels)."""
    target = read_image_file(opencv_file("graf1.png"))
    source = read_image_file(opencv_file("graf3.png"))
    homography = read_opencv_matrix(opencv_file("H1to3p.xml"))
    return ExamplePair(
        "graffiti-1-3",
        "Oxford graffiti wall seen from two viewpoints about 40 degrees apart (graf1 = target, "
        "graf3 = source); the flow is the dataset's homography.",
        target,
        source,
        homography_flow(homography, target.shape, source.shape),
    )


#: Every real pair: name -> (loader, the files it needs from opencv-doc).
REAL_PAIRS: dict[str, tuple[Callable[[], ExamplePair], tuple[str, ...]]] = {
    "stereo-motorcycle": (load_motorcycle, ()),
    "stereo-aloe": (load_aloe, ("aloeL.jpg", "aloeR.jpg", "aloeGT.png")),
    "graffiti-1-3": (load_graffiti, ("graf1.png", "graf3.png", "H1to3p.xml")),
}


def missing_files(name: str) -> list[Path]:
    """The files that the real pair ``name`` needs and that are not there (empty: loadable)."""
    if name not in REAL_PAIRS:
        raise ValueError(f"unknown real pair {name!r}; available: {list(REAL_PAIRS)}")
    folder = opencv_data_dir()
    return [folder / file for file in REAL_PAIRS[name][1] if not (folder / file).is_file()]


def real_pair_available(name: str) -> bool:
    """Whether :func:`load_real_pair` can load ``name`` on this machine."""
    return not missing_files(name)


def load_real_pair(name: str) -> ExamplePair:
    """The real pair ``name`` (a key of :data:`REAL_PAIRS`); :class:`MissingDataError` if its
    files are not installed."""
    missing = missing_files(name)
    if missing:
        raise MissingDataError(
            f"{missing[0]} is missing: it comes with Debian's opencv-doc package ({OPENCV_INSTALL})"
        )
    return REAL_PAIRS[name][0]()
