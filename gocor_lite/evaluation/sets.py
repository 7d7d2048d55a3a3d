# SPDX-License-Identifier: MIT
"""Every set the evaluation measures on, none of it ever trained on.

* ``natural``, ``repeated``: synthetic warps of scikit-image's held-out images
  (:data:`gocor_lite.data.split.HELD_OUT`);
* ``photos``: synthetic warps of held-out real photographs
  (:data:`gocor_lite.data.photos.HELD_OUT_PHOTOS`, from ``opencv-doc`` and ``mate-backgrounds``);
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
from gocor_lite.data.synthetic import WarpedBatch

EVAL_SIZE = (240, 320)  # (H, W) of the synthetic evaluation pairs
REAL_SIDE = 320  # longer side of the real pairs, pixels
#: Real sets: set name -> the pair of gocor_lite.data.real.
REAL_SETS = {"motorcycle": "stereo-motorcycle", "aloe": "stereo-aloe", "graffiti": "graffiti-1-3"}
EVALUATION_SETS: tuple[str, ...] = (*HELD_OUT, "photos", *REAL_SETS)


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
            f"opencv-doc and mate-backgrounds), {count} pairs per photograph at {width}x{height}",
            held_out_pairs(count, size, EVAL_SEED),
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
