# SPDX-License-Identifier: MIT
"""The one data split: held-out images stay out of training; pairs are functions of a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gocor_lite.data.split import (
    HELD_OUT,
    TRAIN_IMAGES,
    check_training_images,
    evaluation_pairs,
    held_out_images,
    stereo_pair,
    synthetic_pairs,
    training_batch,
)


def test_training_and_held_out_images_are_disjoint():
    held_out = held_out_images()
    assert not set(TRAIN_IMAGES) & held_out
    assert {"brick", "gravel", "checkerboard"} <= set(HELD_OUT["repeated"])
    assert "cat" in held_out  # skimage's cat is the chelsea photograph
    assert check_training_images(TRAIN_IMAGES) == TRAIN_IMAGES


@pytest.mark.parametrize("names", [["astronaut", "brick"], ["cat"], ["stereo_motorcycle"]])
def test_held_out_images_are_refused_for_training(names):
    with pytest.raises(ValueError, match="held out"):
        check_training_images(names)


def test_unknown_images_are_refused():
    with pytest.raises(ValueError, match=r"not skimage\.data images"):
        check_training_images(["astronaut", "no_such_image"])
    with pytest.raises(ValueError, match="unknown evaluation set"):
        evaluation_pairs("other")


def test_a_pair_depends_on_its_seed_only():
    three = synthetic_pairs(["coins", "moon"], 3, (40, 56), seed=5)
    two = synthetic_pairs(["coins", "moon"], 2, (40, 56), seed=5)
    for a, b in zip(three, two, strict=True):
        assert torch.equal(a[:2], b)
    assert three.target.shape == (3, 3, 40, 56) and three.valid.dtype == torch.bool
    assert not torch.equal(three.flow[0], three.flow[2])  # same image, another seed


def test_training_batches_are_reproducible_and_vary_with_the_seed():
    first = training_batch(TRAIN_IMAGES, 3, (48, 64), seed=11)
    again = training_batch(TRAIN_IMAGES, 3, (48, 64), seed=11)
    other = training_batch(TRAIN_IMAGES, 3, (48, 64), seed=12)
    assert first.source.shape == (3, 3, 48, 64)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first.source, other.source)


def test_stereo_flow_is_minus_the_disparity_on_known_pixels():
    from skimage import data

    _, _, disparity = data.stereo_motorcycle()
    pair = stereo_pair()
    known = np.isfinite(disparity) & (disparity > 0)
    inside = np.arange(disparity.shape[1])[None, :] - disparity >= 0  # x - d in the right image
    assert np.array_equal(pair.valid[0, 0].numpy(), known & inside)
    assert 0.9 < inside[known].mean() < 1.0
    flow = pair.flow[0].numpy()
    valid = known & inside
    np.testing.assert_allclose(flow[0][valid], -disparity[valid], rtol=1e-6)
    assert not flow[1].any() and not flow[0][~valid].any()
    small = stereo_pair(320)
    assert max(small.target.shape[2:]) == 320
    assert 0.8 < float(small.valid.float().mean()) < 1.0
