# SPDX-License-Identifier: MIT
"""Real photographs for training, and a held-out set of them for evaluation, read at run time
from installed packages (nothing is downloaded or bundled; ``assets/README.md`` lists each
source and licence).

Sources, each file looked at by eye (photographs only: no drawings, text, logos, renders or
synthetic test patterns):

* Debian's ``opencv-doc`` (``/usr/share/doc/opencv-doc/examples/data``): 24 photographs
  (:data:`OPENCV_PHOTOS`), and frames of two of its videos, a pedestrian scene
  ``vtest.avi`` and ``tree.avi`` (read with OpenCV, the ``eval`` extra: skipped with a note
  where it is not installed). ``Megamind.avi`` is a computer-animated film: not a photograph,
  not used.
* Debian's ``mate-backgrounds`` (``/usr/share/backgrounds/mate/nature``): 12 photographs.
* scikit-image's bundled photographs (``skimage.data``).
* scikit-learn's two sample photographs (``china.jpg``, ``flower.jpg``), where scikit-learn is
  installed (it is not a dependency: skipped with a note otherwise).

The split is fixed: :data:`TRAIN_PHOTOS` trains, :data:`HELD_OUT_PHOTOS` measures (synthetic
warps of them, :func:`held_out_pairs`), and no evaluation image ever trains:
:func:`check_training_photos` refuses the real pairs' images (graffiti, aloe, the motorcycle),
the held-out photographs, every other view of their scenes (``graf*``, ``aloe*``, the second
frames of ``rubberwhale`` and ``basketball``) and scikit-image's held-out images
(:data:`gocor_lite.data.split.HELD_OUT`).

Names are ``"<source>/<file>"`` (``"opencv-doc/fruits.jpg"``, ``"mate-backgrounds/Wood.jpg"``,
``"scikit-image/astronaut"``, ``"scikit-learn/china.jpg"``) and ``"opencv-doc/<video>@<frame>"``
for video frames (0-based). Photographs are loaded as ``uint8 (H, W, 3)`` RGB, shrunk (never
enlarged) so that the longer side is at most :data:`MAX_SIDE`.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from gocor_lite.data.real import MissingDataError, opencv_data_dir, read_image_file
from gocor_lite.data.split import EVAL_SEED, HELD_OUT, centre_crop, random_crop
from gocor_lite.data.synthetic import KINDS, WarpedBatch, WarpOptions, random_warp_batch
from gocor_lite.files.images import as_rgb_uint8, resize_to_fit, to_tensor

#: Longest side of a loaded photograph (larger ones are shrunk once, when first loaded).
MAX_SIDE = 768
#: Where Debian's ``mate-backgrounds`` puts its nature photographs.
MATE_NATURE = Path("/usr/share/backgrounds/mate/nature")

#: ``opencv-doc`` photographs that train (every photograph of its sample data that no
#: evaluation uses; ``left01/06/12`` are three of its 26 chessboard calibration photographs
#: of one office scene, the others being near copies).
OPENCV_PHOTOS: tuple[str, ...] = (
    "aero1.jpg",  # aerial views of a town (two viewpoints)
    "aero3.jpg",
    "apple.jpg",
    "baboon.jpg",
    "blox.jpg",  # wooden blocks on a table, grey
    "box.png",  # a box, and the box among other objects, grey
    "box_in_scene.png",
    "building.jpg",
    "butterfly.jpg",
    "chicky_512.png",  # a dog
    "ela_original.jpg",  # a notebook (its retouched copy ela_modified.jpg is not used)
    "home.jpg",  # a palace against the sky
    "left.jpg",  # two views of books on a floor
    "right.jpg",
    "leuvenA.jpg",  # two views of a street of brick houses
    "leuvenB.jpg",
    "messi5.jpg",  # a footballer on a pitch
    "orange.jpg",
    "pca_test1.jpg",  # objects on a light box
    "smarties.png",  # sweets on a white table
    "stuff.jpg",  # objects on a table
    "left01.jpg",  # chessboard held up in an office, grey
    "left06.jpg",
    "left12.jpg",
)
#: ``opencv-doc`` video frames that train (need OpenCV to decode).
OPENCV_FRAMES: tuple[str, ...] = ("vtest.avi@0", "vtest.avi@200", "tree.avi@0", "tree.avi@40")
#: ``mate-backgrounds`` photographs that train.
MATE_PHOTOS: tuple[str, ...] = (
    "Aqua.jpg",
    "Blinds.jpg",
    "Dune.jpg",
    "FreshFlower.jpg",
    "GreenMeadow.jpg",
    "LadyBird.jpg",
    "Storm.jpg",
    "TwoWings.jpg",
    "Wood.jpg",
    "YellowFlower.jpg",
)
#: scikit-image photographs that train (its text, clock, cell and synthetic images are not
#: photographs of scenes; chelsea, coffee, brick and gravel are held out by split.HELD_OUT).
SKIMAGE_PHOTOS: tuple[str, ...] = (
    "astronaut",
    "camera",
    "rocket",
    "coins",
    "moon",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
    "grass",
)
#: scikit-learn's sample photographs (used where scikit-learn is installed).
SKLEARN_PHOTOS: tuple[str, ...] = ("china.jpg", "flower.jpg")

#: Every photograph that may train, in a fixed order.
TRAIN_PHOTOS: tuple[str, ...] = (
    *(f"opencv-doc/{name}" for name in OPENCV_PHOTOS),
    *(f"opencv-doc/{name}" for name in OPENCV_FRAMES),
    *(f"mate-backgrounds/{name}" for name in MATE_PHOTOS),
    *(f"scikit-image/{name}" for name in SKIMAGE_PHOTOS),
    *(f"scikit-learn/{name}" for name in SKLEARN_PHOTOS),
)
#: Real photographs kept for evaluation (synthetic warps of them): varied scenes, each seen in
#: no training photograph. rubberwhale1 and basketball1 are first frames of Middlebury optical
#: flow sequences (their second frames are refused too).
HELD_OUT_PHOTOS: tuple[str, ...] = (
    "opencv-doc/fruits.jpg",
    "opencv-doc/board.jpg",  # a circuit board: repeated structure
    "opencv-doc/squirrel_cls.jpg",
    "opencv-doc/rubberwhale1.png",
    "opencv-doc/basketball1.png",
    "mate-backgrounds/Garden.jpg",
    "mate-backgrounds/RainDrops.jpg",
)
#: Names that never train, as patterns, with the reason given when one is asked for.
REFUSED: dict[str, str] = {
    "opencv-doc/graf*": "the Oxford graffiti scene is an evaluation pair (graffiti-1-3)",
    "opencv-doc/H1to3p*": "the graffiti pair's homography (evaluation)",
    "opencv-doc/aloe*": "the Middlebury aloe scene is an evaluation pair (stereo-aloe)",
    "scikit-image/stereo_motorcycle*": "the motorcycle scene is an evaluation pair",
    "scikit-image/motorcycle*": "the motorcycle scene is an evaluation pair",
    "opencv-doc/rubberwhale*": "a held-out scene (HELD_OUT_PHOTOS: rubberwhale1)",
    "opencv-doc/basketball*": "a held-out scene (HELD_OUT_PHOTOS: basketball1)",
    **{name: "a held-out photograph (HELD_OUT_PHOTOS)" for name in HELD_OUT_PHOTOS},
    "scikit-image/cat": "the same photograph as chelsea, held out (split.HELD_OUT)",
    **{
        f"scikit-image/{name}": f"held out for the {set_name!r} evaluation set (split.HELD_OUT)"
        for set_name, names in HELD_OUT.items()
        for name in names
    },
}
INSTALL = {
    "opencv-doc": "apt-get install opencv-doc",
    "mate-backgrounds": "apt-get install mate-backgrounds",
    "scikit-image": "pip install scikit-image",
    "scikit-learn": "pip install scikit-learn",
}
#: Sources that training may go without (skipped with a note); the others must be installed.
OPTIONAL = ("scikit-learn", "opencv-doc video frames")


def refusal(name: str) -> str | None:
    """Why ``name`` must not train (``None`` if it may)."""
    for pattern, reason in REFUSED.items():
        if fnmatch.fnmatchcase(name, pattern):
            return reason
    return None


def check_training_photos(names: Sequence[str]) -> tuple[str, ...]:
    """Return ``names`` if each is a training photograph; raise ``ValueError`` naming the first
    evaluation image (and why) or unknown name otherwise."""
    names = tuple(names)
    if not names:
        raise ValueError("training needs at least one photograph")
    for name in names:
        reason = refusal(name)
        if reason is not None:
            raise ValueError(
                f"{name!r} must never train: {reason}; train on gocor_lite.data.photos.TRAIN_PHOTOS"
            )
    unknown = [name for name in names if name not in TRAIN_PHOTOS]
    if unknown:
        raise ValueError(f"{unknown} are not training photographs; see gocor_lite.data.photos")
    return names


def _source(name: str) -> tuple[str, str]:
    source, _, file = name.partition("/")
    if source not in INSTALL or not file:
        raise ValueError(f"{name!r} is not a photograph name ('<source>/<file>', see photos.py)")
    return source, file


def _sklearn_images() -> Path | None:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "datasets" / "images"


def missing_reason(name: str) -> str | None:
    """Why ``name`` cannot be loaded on this machine, in one line (``None`` if it can)."""
    source, file = _source(name)
    if source == "opencv-doc":
        path = opencv_data_dir() / file.partition("@")[0]
        if not path.is_file():
            return f"{path} is missing: it comes with Debian's opencv-doc ({INSTALL[source]})"
        if "@" in file and importlib.util.find_spec("cv2") is None:
            return f"{name}: a video frame needs OpenCV (pip install opencv-python-headless)"
    elif source == "mate-backgrounds":
        path = MATE_NATURE / file
        if not path.is_file():
            return f"{path} is missing: it comes with mate-backgrounds ({INSTALL[source]})"
    elif source == "scikit-learn":
        folder = _sklearn_images()
        if folder is None or not (folder / file).is_file():
            return f"{name}: scikit-learn is not installed ({INSTALL[source]})"
    return None


def _read_frame(path: Path, frame: int) -> np.ndarray:
    """Frame ``frame`` (0-based) of a video, read in order from the start (seeking is not
    reliable in every file), as ``uint8 (H, W, 3)`` RGB."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        for _ in range(frame + 1):
            ok, image = capture.read()
            if not ok:
                raise ValueError(f"{path} has no frame {frame}")
    finally:
        capture.release()
    return np.ascontiguousarray(image[:, :, ::-1])


def load_photo(name: str) -> np.ndarray:
    """The photograph ``name`` as ``uint8 (H, W, 3)`` RGB, longer side at most
    :data:`MAX_SIDE` (read once, then cached; read-only); raises
    :class:`~gocor_lite.data.real.MissingDataError` if it is not installed. Evaluation images
    load too (the held-out set needs them); only training refuses them."""
    reason = missing_reason(name)
    if reason is not None:
        raise MissingDataError(reason)
    return _read_photo(name, opencv_data_dir())


@functools.lru_cache(maxsize=64)
def _read_photo(name: str, opencv_folder: Path) -> np.ndarray:
    source, file = _source(name)
    if source == "opencv-doc" and "@" in file:
        video, _, frame = file.partition("@")
        image = _read_frame(opencv_folder / video, int(frame))
    elif source == "opencv-doc":
        image = read_image_file(opencv_folder / file, MAX_SIDE)
    elif source == "mate-backgrounds":
        image = read_image_file(MATE_NATURE / file, MAX_SIDE)
    elif source == "scikit-learn":
        folder = _sklearn_images()
        assert folder is not None
        image = read_image_file(folder / file, MAX_SIDE)
    else:
        from skimage import data

        loader = getattr(data, file, None)
        if not callable(loader):
            raise ValueError(f"{file!r} is not a skimage.data image")
        image = as_rgb_uint8(loader())
    if max(image.shape[:2]) > MAX_SIDE:
        image = resize_to_fit(image, MAX_SIDE)
    image.setflags(write=False)  # shared by the cache
    return image


def available_training_photos() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The training photographs that load on this machine, and a note for each skipped one.

    Raises :class:`~gocor_lite.data.real.MissingDataError` if a photograph of a required source
    (``opencv-doc``'s images, ``mate-backgrounds``, scikit-image) is missing, so that the
    default training set differs between machines only by the optional sources
    (:data:`OPTIONAL`: scikit-learn's photographs, the video frames).
    """
    names, notes = [], []
    for name in TRAIN_PHOTOS:
        reason = missing_reason(name)
        if reason is None:
            names.append(name)
            continue
        optional = name.startswith("scikit-learn/") or "@" in name
        if not optional:
            raise MissingDataError(reason)
        notes.append(reason)
    return tuple(names), tuple(notes)


def _photo_tensor(name: str) -> torch.Tensor:
    return to_tensor(np.array(load_photo(name)))  # (1, 3, H, W) in [0, 1]


def training_pairs(
    batch_size: int,
    size: tuple[int, int],
    seed: int,
    *,
    names: Sequence[str] | None = None,
    kinds: Sequence[str] = KINDS,
    options: WarpOptions | None = None,
) -> WarpedBatch:
    """A batch of training pairs from real photographs, a function of the seed (and of the
    photograph list): each element picks one of ``names`` (default: every available training
    photograph, :func:`available_training_photos`), a random crop between a third of its
    shorter side and all of it, in the aspect of ``size = (H, W)``, resized to ``size``
    (:func:`~gocor_lite.data.split.random_crop`), and a random warp with photometric changes
    (:func:`~gocor_lite.data.synthetic.random_warp_batch`).

    Shapes: -> :class:`~gocor_lite.data.synthetic.WarpedBatch` of ``batch_size`` pairs,
    ``(B, 3, H, W)`` images in ``[0, 1]``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    names = check_training_photos(available_training_photos()[0] if names is None else names)
    generator = torch.Generator().manual_seed(seed)
    crops = []
    for _ in range(batch_size):
        name = names[int(torch.randint(len(names), (1,), generator=generator))]
        crops.append(random_crop(_photo_tensor(name), size, generator))
    return random_warp_batch(torch.cat(crops), generator, kinds, options=options)


def held_out_pairs(
    pairs_per_photo: int = 2,
    size: tuple[int, int] = (240, 320),
    seed: int = EVAL_SEED,
    *,
    kinds: Sequence[str] = KINDS,
    options: WarpOptions | None = None,
    photometric: bool = True,
) -> WarpedBatch:
    """The held-out equivalent of :func:`training_pairs`, for evaluation: pair ``k`` warps
    the centred crop (aspect of ``size``) of photograph ``k mod n`` of :data:`HELD_OUT_PHOTOS`
    with seed ``seed + k``, so a pair does not depend on the number of pairs.
    ``photometric=False`` leaves out the photometric changes (drawn after the warp: the flows
    are the same).

    Raises :class:`~gocor_lite.data.real.MissingDataError` if a held-out photograph is missing.
    """
    if pairs_per_photo < 1:
        raise ValueError(f"pairs_per_photo must be >= 1, got {pairs_per_photo}")
    parts = []
    for k in range(pairs_per_photo * len(HELD_OUT_PHOTOS)):
        image = centre_crop(_photo_tensor(HELD_OUT_PHOTOS[k % len(HELD_OUT_PHOTOS)]), size)
        parts.append(
            random_warp_batch(
                image,
                torch.Generator().manual_seed(seed + k),
                kinds,
                photometric=photometric,
                options=options,
            )
        )
    return WarpedBatch(*(torch.cat(field) for field in zip(*parts, strict=True)))


def held_out_shift_pairs(fraction: float, size: tuple[int, int] = (256, 256)) -> WarpedBatch:
    """Pure horizontal translations of the held-out photographs by ``fraction`` of the width:
    one pair per photograph of :data:`HELD_OUT_PHOTOS`, the target and source two windows of
    ``size = (H, W)`` of one centred crop ``W (1 + fraction)`` wide, the source ``s =
    round(fraction W)`` pixels right of the target. Target pixel ``x`` shows what source pixel
    ``x - s`` shows: the flow is ``(-s, 0)``, known (inside the source) where ``x >= s``.

    Shapes: -> :class:`~gocor_lite.data.synthetic.WarpedBatch` of ``len(HELD_OUT_PHOTOS)``
    pairs, no photometric change.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    height, width = size
    shift = round(fraction * width)
    targets, sources = [], []
    for name in HELD_OUT_PHOTOS:
        strip = centre_crop(_photo_tensor(name), (height, width + shift))
        targets.append(strip[:, :, :, :width])
        sources.append(strip[:, :, :, shift : shift + width])
    target, source = torch.cat(targets), torch.cat(sources)
    flow = torch.zeros(target.shape[0], 2, height, width, dtype=target.dtype)
    flow[:, 0] = -shift
    columns = torch.arange(width)[None, None, None, :].expand(target.shape[0], 1, height, width)
    return WarpedBatch(target, source, flow, columns >= shift)
