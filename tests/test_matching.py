# SPDX-License-Identifier: MIT
"""Matches, flows, score-map pictures, feature normalisation and the learned distance tables."""

from __future__ import annotations

import math

import pytest
import torch

from gocor_lite import global_correlation, local_correlation
from gocor_lite.core.features import normalize_features
from gocor_lite.core.grid import cell_to_pixel, pixel_to_cell, pixel_to_cell_index
from gocor_lite.gocor.spatial import distance_bins, offset_distances, pairwise_table
from gocor_lite.reading.matching import (
    best_displacement,
    best_match,
    cells_to_pixels,
    global_volume_to_flow,
    local_window_on_source,
    matches_to_flow,
    soft_argmax,
)


def shifted_pair(shift_x: int, shift_y: int, generator: torch.Generator):
    """Unit random features and a copy shifted so that source cell (x+sx, y+sy) = target (x, y)."""
    features = torch.randn(1, 32, 12, 14, generator=generator)
    features = features / features.norm(dim=1, keepdim=True)
    source = torch.roll(features, shifts=(shift_y, shift_x), dims=(2, 3))
    return features, source


def test_best_match_finds_a_known_shift(generator):
    target, source = shifted_pair(3, -2, generator)
    matches = best_match(global_correlation(target, source))
    xs = torch.arange(14).view(1, 14).expand(12, 14)
    ys = torch.arange(12).view(12, 1).expand(12, 14)
    torch.testing.assert_close(matches[0, 0], ((xs + 3) % 14).float())
    torch.testing.assert_close(matches[0, 1], ((ys - 2) % 12).float())


def test_soft_argmax_tends_to_argmax(generator):
    volume = torch.randn(2, 3, 4, 5, 6, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(soft_argmax(volume, temperature=1e-9), best_match(volume))
    flat = soft_argmax(volume, temperature=1e9)  # uniform weights: the grid's centre
    centre = torch.tensor([2.5, 2.0], dtype=torch.float64).view(1, 2, 1, 1).expand(2, 2, 3, 4)
    torch.testing.assert_close(flat, centre, atol=1e-7, rtol=0)
    with pytest.raises(ValueError, match="temperature"):
        soft_argmax(volume, 0.0)


def test_flow_from_a_known_shift(generator):
    target, source = shifted_pair(2, 1, generator)
    volume = global_correlation(target, source)
    flow = global_volume_to_flow(volume, target_stride=8, image_size=(96, 112))
    assert flow.shape == (1, 2, 96, 112)
    # Away from the wrap-around columns and rows, every pixel moves by (2, 1) cells of 8 px.
    torch.testing.assert_close(flow[0, 0, :80, :88], torch.full((80, 88), 16.0))
    torch.testing.assert_close(flow[0, 1, :80, :88], torch.full((80, 88), 8.0))


def test_flow_between_different_strides():
    matches = torch.zeros(1, 2, 1, 1)  # target cell (0, 0) -> source cell (0, 0)
    flow = matches_to_flow(matches, target_stride=4, image_size=(4, 4), source_stride=8)
    # target cell centre (1.5, 1.5) px; source cell centre (3.5, 3.5) px.
    torch.testing.assert_close(flow, torch.full((1, 2, 4, 4), 2.0))


def test_local_best_displacement(generator):
    target, source = shifted_pair(-1, 2, generator)
    shift = best_displacement(local_correlation(target, source, 3))
    torch.testing.assert_close(shift[0, 0, 3:-3, 3:-3], torch.full((6, 8), -1.0))
    torch.testing.assert_close(shift[0, 1, 3:-3, 3:-3], torch.full((6, 8), 2.0))


def test_pixel_cell_conversions():
    assert cell_to_pixel(0, 8) == 3.5 and pixel_to_cell(3.5, 8) == 0
    assert pixel_to_cell(cell_to_pixel(5.25, 4), 4) == pytest.approx(5.25)
    assert pixel_to_cell_index(0, 0, 8, (4, 5)) == (0, 0)
    assert pixel_to_cell_index(7.4, 8.6, 8, (4, 5)) == (0, 1)
    assert pixel_to_cell_index(500, -3, 8, (4, 5)) == (4, 0)  # clamped to the grid


def test_cells_to_pixels_blocks():
    cells = torch.arange(6.0).view(2, 3)
    image = cells_to_pixels(cells, stride=2, image_size=(5, 7))
    assert image.shape == (5, 7)
    assert image[0, 0] == 0 and image[1, 1] == 0 and image[0, 2] == 1 and image[2, 5] == 5
    assert image[4, 6] == 5  # beyond the last full cell: clamped


def test_local_window_on_source():
    volume = torch.arange(2 * 3 * 4 * 9, dtype=torch.float32).view(2, 3, 4, 3, 3)
    placed = local_window_on_source(volume, cell=(0, 1), source_grid=(3, 4))
    assert placed.shape == (2, 3, 4)
    window = volume[:, 1, 0]
    torch.testing.assert_close(placed[:, 0:3, 0:2], window[:, :, 1:])  # clipped on the left
    assert torch.isnan(placed[:, :, 2:]).all()
    moved = local_window_on_source(volume, cell=(0, 1), source_grid=(3, 4), centre=(2, 1))
    torch.testing.assert_close(moved[:, 0:3, 1:4], window)


def test_normalize_features(generator):
    target = torch.rand(2, 6, 3, 4, generator=generator) + 1.0
    source = torch.rand(2, 6, 5, 2, generator=generator) + 1.0
    target[0, :, 0, 0] = 0.0
    for mode in ("l2", "centered-l2"):
        a, b = normalize_features(target, source, mode)
        norms = torch.cat([a.norm(dim=1).flatten(), b.norm(dim=1).flatten()])
        assert torch.isfinite(norms).all()
    a, b = normalize_features(target, source, "l2")
    assert a[0, :, 0, 0].abs().sum() == 0  # a zero vector stays zero
    torch.testing.assert_close(b.norm(dim=1), torch.ones(2, 5, 2))
    # centred: the joint mean is removed before scaling, so the product with it vanishes.
    a, b = normalize_features(target, source, "centered-l2")
    joint = torch.cat([target.flatten(2), source.flatten(2)], 2)
    centred = joint - joint.mean(2, keepdim=True)
    torch.testing.assert_close(
        a.flatten(2), (centred / centred.norm(dim=1, keepdim=True))[..., :12]
    )
    assert normalize_features(target, source, "none")[0] is target
    with pytest.raises(ValueError, match="mode must be"):
        normalize_features(target, source, "zscore")


def test_distance_bins_by_hand():
    rho = torch.tensor([0.0, 0.25, 1.3, 4.5, 10.0], dtype=torch.float64)
    bins = distance_bins(rho, num_bins=10, bin_width=0.5)
    assert bins.shape == (5, 10)
    assert bins[0, 0] == 1 and bins[0, 1:].sum() == 0
    torch.testing.assert_close(bins[1, :2], torch.tensor([0.5, 0.5], dtype=torch.float64))
    torch.testing.assert_close(bins[2, 2:4], torch.tensor([0.4, 0.6], dtype=torch.float64))
    assert bins[3, 9] == 1 and bins[3, :9].sum() == 0
    assert bins[4, 9] == 1 and bins[4, :9].sum() == 0  # the last bin saturates


def test_pairwise_table_matches_a_loop():
    height, width = 3, 4
    offsets = offset_distances(height, width, like=torch.zeros((), dtype=torch.float64))
    table = pairwise_table(
        offsets * 10 + torch.arange(offsets.numel()).view_as(offsets) * 0, height, width
    )
    for i in range(height * width):
        for j in range(height * width):
            (yi, xi), (yj, xj) = divmod(i, width), divmod(j, width)
            assert table[i, j] == pytest.approx(10 * math.hypot(yi - yj, xi - xj))
    # An asymmetric function of the offset lands at [h-1 + yj - yi, w-1 + xj - xi].
    ramp = torch.arange(float(offsets.numel())).view_as(offsets)
    table = pairwise_table(ramp, height, width)
    assert table[1 * width + 2, 2 * width + 0] == ramp[height - 1 + 1, width - 1 - 2]


@pytest.mark.parametrize(
    ("volume", "kind", "radius", "message"),
    [
        (torch.zeros(1, 2, 3, 4), "global", None, r"\(B, h, w, h', w'\) \(a global volume\)"),
        ([[0.0]], "global", None, "must be a torch.Tensor"),
        (torch.zeros(1, 2, 3, 4, 4), "local", None, r"\(B, h, w, 2R\+1, 2R\+1\)"),
        (torch.zeros(1, 2, 3, 3, 5), "local", None, "a local volume"),
        (torch.zeros(1, 2, 3, 3, 3), "local", 2, r"\(B, h, w, 5, 5\) \(a local volume of radius 2"),
        (torch.zeros(1, 2, 3, 3, 3, dtype=torch.long), "local", 1, "floating-point"),
    ],
)
def test_one_volume_check_says_what_it_expected(volume, kind, radius, message):
    """Every function that reads a volume refuses a wrong one through _checks.check_volume,
    with the shape it expected and the one it got."""
    from gocor_lite._checks import check_volume

    with pytest.raises(ValueError, match=message):
        check_volume(volume, kind, radius=radius)
    good = torch.zeros(1, 2, 3, 5, 5)
    assert check_volume(good, "local", radius=2) is good and check_volume(good) is good
