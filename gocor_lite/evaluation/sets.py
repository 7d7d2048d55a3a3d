# SPDX-License-Identifier: MIT
"""Every set the evaluation measures on, none of it ever trained on.

* ``natural``, ``repeated``: synthetic warps of scikit-image's held-out images
  (:data:`gocor_lite.data.split.HELD_OUT`);
* ``photos``: synthetic warps of held-out real photographs
  (:data:`gocor_lite.data.photos.HELD_OUT_PHOTOS`, from ``opencv-doc`` and ``mate-backgrounds``);
* ``small-motion``: the same photographs moved by at most :data:`SMALL_MOTION_LIMIT` pixels
  (:data:`SMALL_MOTION`: a tiny homography, affine map or thin-plate spline, milder photometric
  changes), the optical-flow case;
* ``motorcycle``, ``aloe``, ``graffiti``: real pairs with real ground truth
  (:mod:`gocor_lite.data.real`): Middlebury stereo (motorcycle, aloe) and Oxford graffiti 1->3
  (a homography), resized so that the longer side is :data:`REAL_SIDE` pixels.

Sets whose files are not installed are skipped by :func:`load_sets`, which says why.

Convention:
    A set's pairs are a :class:`~gocor_lite.data.synthetic.WarpedBatch` (target pixel ``p``
    matching source pixel ``p + flow(p)``, valid where known); a real set is a batch of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gocor_lite.data.photos import HELD_OUT_PHOTOS, held_out_pairs
from gocor_lite.data.real import MissingDataError, load_real_pair
from gocor_lite.data.split import EVAL_SEED, HELD_OUT, batch_of_pair, evaluation_pairs
from gocor_lite.data.synthetic import WarpedBatch, WarpOptions

EVAL_SIZE = (240, 320)  # (H, W) of the synthetic evaluation pairs
REAL_SIDE = 320  # longer side of the real pairs, pixels
#: Real sets: set name -> the pair of gocor_lite.data.real.
REAL_SETS = {"motorcycle": "stereo-motorcycle", "aloe": "stereo-aloe", "graffiti": "graffiti-1-3"}
#: Every set, in the tables' order (``small-motion`` last, so that the other sets keep the
#: seeds of their position).
EVALUATION_SETS: tuple[str, ...] = (*HELD_OUT, "photos", *REAL_SETS, "small-motion")
#: The largest motion of any pixel of the ``small-motion`` set (checked when it is made).
SMALL_MOTION_LIMIT = 3.0
#: ``small-motion``'s warps: at 320x240 a zoom of at most 0.5 % moves a corner by under 1 px,
#: 0.2 degrees by 0.7 px, a 0.3 % shift by 1 px. Measured on the set's first 140 pairs (20 per
#: photograph): largest motion 2.72 px, mean 0.75 px. Photometric changes at about half the
#: other sets' (a video's next frame, not another camera's photograph).
SMALL_MOTION = WarpOptions(
    zoom=(0.995, 1.0),
    rotation_deg=0.2,
    shift=0.003,
    aspect=0.003,
    shear=0.003,
    corner_jitter=0.002,
    tps_jitter=0.002,
    brightness=0.05,
    contrast=0.1,
    colour=0.05,
    blur_sigma=0.5,
    noise=0.01,
)
SMALL_MOTION_SEED = EVAL_SEED + 500  # other warps of the photographs than the photos set's


@dataclass(frozen=True)
class EvaluationSet:
    """A set's pairs and one line saying what they are."""

    name: str
    description: str
    pairs: WarpedBatch


def photo_pairs_per_photo(pairs_per_image: int) -> int:
    """Pairs per held-out photograph for ``pairs_per_image`` (a quarter as many, at least one:
    there are 7 photographs, so the default 4 gives 7 pairs, as many as ``natural`` has)."""
    return max(1, pairs_per_image // 4)


def _per_photo(count: int) -> str:
    return f"{count} pair{'' if count == 1 else 's'} per photograph"


def load_set(
    name: str, pairs_per_image: int = 4, size: tuple[int, int] = EVAL_SIZE
) -> EvaluationSet:
    """The set ``name`` (one of :data:`EVALUATION_SETS`); ``pairs_per_image`` synthetic pairs
    per held-out image of ``size = (H, W)``. Raises
    :class:`~gocor_lite.data.real.MissingDataError` if its files are not installed."""
    height, width = size
    if name in HELD_OUT:
        return EvaluationSet(
            name,
            f"synthetic warps of {', '.join(HELD_OUT[name])} (scikit-image), "
            f"{pairs_per_image} pairs per image at {width}x{height}",
            evaluation_pairs(name, pairs_per_image, size),
        )
    if name == "photos":
        count = photo_pairs_per_photo(pairs_per_image)
        files = ", ".join(photo.split("/", 1)[1] for photo in HELD_OUT_PHOTOS)
        return EvaluationSet(
            name,
            f"synthetic warps of the {len(HELD_OUT_PHOTOS)} held-out real photographs ({files}; "
            f"opencv-doc and mate-backgrounds), {_per_photo(count)} at {width}x{height}",
            held_out_pairs(count, size, EVAL_SEED),
        )
    if name == "small-motion":
        count = photo_pairs_per_photo(pairs_per_image)
        pairs = held_out_pairs(count, size, SMALL_MOTION_SEED, options=SMALL_MOTION)
        largest = float(pairs.flow.norm(dim=1)[pairs.valid[:, 0]].max())
        if largest > SMALL_MOTION_LIMIT:  # a guarantee of the set, not a hope
            raise ValueError(
                f"the small-motion set moves a pixel by {largest:.2f} px, over its limit of "
                f"{SMALL_MOTION_LIMIT} px: narrow SMALL_MOTION"
            )
        return EvaluationSet(
            name,
            f"the {len(HELD_OUT_PHOTOS)} held-out real photographs of `photos` moved by at most "
            f"{SMALL_MOTION_LIMIT:g} px (largest motion here {largest:.2f} px; "
            f"gocor_lite.evaluation.sets.SMALL_MOTION), {_per_photo(count)} at {width}x{height}",
            pairs,
        )
    if name in REAL_SETS:
        pair = load_real_pair(REAL_SETS[name])
        height, width = pair.target.shape[:2]
        return EvaluationSet(
            name,
            f"{pair.name} ({width}x{height}) resized to {REAL_SIDE} px on the longer side, "
            f"pixels with known truth: {pair.description}",
            batch_of_pair(pair, REAL_SIDE),
        )
    raise ValueError(f"unknown evaluation set {name!r}; available: {list(EVALUATION_SETS)}")


def load_sets(
    names: Sequence[str], pairs_per_image: int = 4, size: tuple[int, int] = EVAL_SIZE
) -> tuple[dict[str, EvaluationSet], dict[str, str]]:
    """The sets ``names`` that load here, and name -> why for those skipped (missing files)."""
    sets, skipped = {}, {}
    for name in names:
        try:
            sets[name] = load_set(name, pairs_per_image, size)
        except MissingDataError as error:
            skipped[name] = str(error)
    return sets, skipped
