# SPDX-License-Identifier: MIT
"""Real training photographs (gocor_lite.data.photos): the fixed split never lets an evaluation
image train, and training pairs are functions of their seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gocor_lite.data.photos import (
    HELD_OUT_PHOTOS,
    MATE_NATURE,
    MAX_SIDE,
    TRAIN_PHOTOS,
    available_training_photos,
    check_training_photos,
    held_out_pairs,
    load_photo,
    missing_reason,
    refusal,
    training_pairs,
)
from gocor_lite.data.real import MissingDataError, opencv_data_dir
from gocor_lite.data.split import HELD_OUT

needs_packages = pytest.mark.skipif(
    not (opencv_data_dir() / "fruits.jpg").is_file() or not MATE_NATURE.is_dir(),
    reason="Debian's opencv-doc or mate-backgrounds is not installed "
    "(apt-get install opencv-doc mate-backgrounds)",
)

# Every image of an evaluation, and other views of the same scenes, written out by hand.
EVALUATION_IMAGES = [
    "opencv-doc/graf1.png",
    "opencv-doc/graf3.png",
    "opencv-doc/aloeL.jpg",
    "opencv-doc/aloeR.jpg",
    "opencv-doc/aloeGT.png",
    "scikit-image/stereo_motorcycle",
    "opencv-doc/rubberwhale2.png",  # the second frames of held-out photographs
    "opencv-doc/basketball2.png",
    "scikit-image/chelsea",
    "scikit-image/cat",
    "scikit-image/coffee",
    "scikit-image/brick",
    "scikit-image/gravel",
]


def test_the_split_never_includes_an_evaluation_image():
    assert len(TRAIN_PHOTOS) >= 40 and len(set(TRAIN_PHOTOS)) == len(TRAIN_PHOTOS)
    assert not set(TRAIN_PHOTOS) & set(HELD_OUT_PHOTOS)
    for name in [*EVALUATION_IMAGES, *HELD_OUT_PHOTOS]:
        assert name not in TRAIN_PHOTOS
        assert refusal(name) is not None
    for name in (name for names in HELD_OUT.values() for name in names):
        assert f"scikit-image/{name}" not in TRAIN_PHOTOS
    # No training name even shares a file stem with a graffiti, aloe or flow-sequence image.
    stems = ("graf", "aloe", "rubberwhale", "basketball", "motorcycle", "H1to3")
    assert not [name for name in TRAIN_PHOTOS if any(stem in name for stem in stems)]
    assert check_training_photos(TRAIN_PHOTOS) == TRAIN_PHOTOS


@pytest.mark.parametrize("name", [*EVALUATION_IMAGES, *HELD_OUT_PHOTOS])
def test_refusing_an_evaluation_image_raises(name):
    with pytest.raises(ValueError, match="must never train"):
        check_training_photos(["opencv-doc/baboon.jpg", name])
    with pytest.raises(ValueError, match="must never train"):
        training_pairs(1, (32, 32), seed=0, names=[name])


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="not training photographs"):
        check_training_photos(["opencv-doc/starry_night.jpg"])  # a painting: not in the list
    with pytest.raises(ValueError, match="at least one"):
        check_training_photos([])
    with pytest.raises(ValueError, match="not a photograph name"):
        load_photo("somewhere/else.jpg")


def test_missing_files_say_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setenv("GOCOR_OPENCV_DATA", str(tmp_path))
    reason = missing_reason("opencv-doc/baboon.jpg")
    assert reason is not None and "apt-get install opencv-doc" in reason
    with pytest.raises(MissingDataError, match="apt-get install opencv-doc"):
        load_photo("opencv-doc/apple.jpg")
    with pytest.raises(MissingDataError, match="apt-get install opencv-doc"):
        available_training_photos()  # a required source is missing: no silent smaller set


@pytest.mark.slow
@needs_packages
def test_every_photograph_loads_as_rgb_within_the_size_limit():
    names, notes = available_training_photos()
    assert len(names) >= 40  # dozens of real photographs
    for note in notes:  # only optional sources are skipped, each with a reason
        assert "scikit-learn" in note or "OpenCV" in note
    for name in [*names, *HELD_OUT_PHOTOS]:
        image = load_photo(name)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, name
        assert max(image.shape[:2]) <= MAX_SIDE and min(image.shape[:2]) >= 100, name
        assert image.std() > 10, name  # not blank (a video frame read past its end would be)


@needs_packages
def test_video_frames_are_distinct_real_frames():
    pytest.importorskip("cv2", reason="opencv-python-headless is not installed (the eval extra)")
    first, later = load_photo("opencv-doc/vtest.avi@0"), load_photo("opencv-doc/vtest.avi@200")
    assert first.shape == later.shape == (576, 768, 3)
    difference = np.abs(first.astype(int) - later.astype(int))
    assert 0 < difference.mean() < 20  # the same street, people moved


@needs_packages
def test_training_pairs_are_a_function_of_the_seed():
    names = ["opencv-doc/baboon.jpg", "mate-backgrounds/Wood.jpg", "scikit-image/camera"]
    first = training_pairs(3, (48, 64), seed=7, names=names)
    again = training_pairs(3, (48, 64), seed=7, names=names)
    other = training_pairs(3, (48, 64), seed=8, names=names)
    assert first.target.shape == (3, 3, 48, 64) and first.valid.dtype == torch.bool
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first.source, other.source)
    default = training_pairs(2, (48, 64), seed=7)  # every available training photograph
    assert default.source.shape == (2, 3, 48, 64)


@pytest.mark.slow
@needs_packages
def test_held_out_pairs_cover_every_held_out_photograph():
    pairs = held_out_pairs(1, (48, 64))
    assert pairs.target.shape == (len(HELD_OUT_PHOTOS), 3, 48, 64)
    assert 0.7 < float(pairs.valid.float().mean()) <= 1.0
    # Pair k depends on its seed only, not on how many pairs were asked for.
    more = held_out_pairs(2, (48, 64))
    assert torch.equal(more.flow[: len(HELD_OUT_PHOTOS)], pairs.flow)
