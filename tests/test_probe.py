# SPDX-License-Identifier: MIT
"""What one target cell sees: warps, window positions and true matches, against plain loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gocor_lite import local_correlation
from gocor_lite.data.pairs import ExamplePair, resize_pair
from gocor_lite.reading.matching import (
    all_window_sources,
    local_best_match,
    scatter_window,
    true_match,
    warp_by_matches,
    window_sources,
)


def test_warp_by_matches_reads_the_matched_cell(generator: torch.Generator) -> None:
    source = torch.randn(2, 5, 4, 6, generator=generator, dtype=torch.float64)
    matches = torch.stack(
        [
            torch.randint(0, 6, (2, 3, 7), generator=generator),
            torch.randint(0, 4, (2, 3, 7), generator=generator),
        ],
        dim=1,
    ).double()  # (B, 2, h, w)
    warped = warp_by_matches(source, matches)
    assert warped.shape == (2, 5, 3, 7)
    for b in range(2):
        for y in range(3):
            for x in range(7):
                mx, my = int(matches[b, 0, y, x]), int(matches[b, 1, y, x])
                torch.testing.assert_close(warped[b, :, y, x], source[b, :, my, mx])


def test_window_sources_without_matches_is_the_shifted_window() -> None:
    sources = window_sources((0, 1), radius=1, grid=(3, 4))  # cell x=0, y=1
    assert sources.shape == (3, 3, 2)
    # dy-major: entry [R+dy, R+dx] reads (x+dx, y+dy); x-1 < 0 is outside
    assert sources[1, 1].tolist() == [0, 1]
    assert sources[0, 2].tolist() == [1, 0]
    assert sources[2, 1].tolist() == [0, 2]
    assert (sources[:, 0] == -1).all()


@pytest.mark.parametrize("with_matches", [False, True])
def test_window_scores_belong_to_the_cells_window_sources_names(
    generator: torch.Generator, with_matches: bool
) -> None:
    """Local correlation on the (warped) source, entry by entry, equals the scalar product with
    the source cell that window_sources gives (the oracle of what the app draws)."""
    channels, radius = 4, 2
    target = torch.randn(1, channels, 5, 6, generator=generator, dtype=torch.float64)
    source = torch.randn(1, channels, 5, 6, generator=generator, dtype=torch.float64)
    matches = None
    correlated = source
    if with_matches:
        matches = torch.stack(
            [
                torch.randint(0, 6, (5, 6), generator=generator),
                torch.randint(0, 5, (5, 6), generator=generator),
            ]
        ).double()  # (2, h, w)
        correlated = warp_by_matches(source, matches[None])
    volume = local_correlation(target, correlated, radius, reduction="sum")
    for cell in [(0, 0), (3, 2), (5, 4)]:
        sources = window_sources(cell, radius, (5, 6), matches)
        for i in range(2 * radius + 1):
            for j in range(2 * radius + 1):
                sx, sy = sources[i, j].tolist()
                expected = (
                    0.0 if sx < 0 else float(target[0, :, cell[1], cell[0]] @ source[0, :, sy, sx])
                )
                assert float(volume[0, cell[1], cell[0], i, j]) == pytest.approx(expected)


def test_scatter_window_keeps_the_highest_score_per_cell() -> None:
    window = torch.tensor([[1.0, 5.0], [2.0, 3.0]])
    sources = torch.tensor([[[0, 0], [1, 1]], [[1, 1], [-1, -1]]])  # two entries on (1, 1)
    out = scatter_window(window, sources, (2, 3))
    assert out.shape == (2, 3)
    assert out[0, 0] == 1.0 and out[1, 1] == 5.0
    assert torch.isnan(out[0, 1]) and torch.isnan(out[1, 2])


def test_true_match_reads_the_flow_at_the_nearest_pixel() -> None:
    flow = np.zeros((2, 4, 5), np.float32)
    flow[0, 2, 3], flow[1, 2, 3] = 10.0, -1.0
    flow[:, 0, 0] = np.nan
    assert true_match(flow, (3.2, 1.8)) == pytest.approx((13.2, 0.8))
    assert true_match(flow, (0.0, 0.0)) is None  # unknown there
    assert true_match(flow, (9.0, 1.0)) is None  # outside
    assert true_match(None, (1.0, 1.0)) is None


def test_resize_pair_keeps_a_shift_exact() -> None:
    """Two crops shifted by (-12, 6) px, halved: the flow becomes (-6, 3) everywhere."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (80, 120, 3), dtype=np.uint8)
    flow = np.empty((2, 40, 60), np.float32)
    flow[0], flow[1] = -12.0, 6.0
    pair = ExamplePair("shift", "test", image[:40, 12:72], image[6:46, :60], flow)
    half = resize_pair(pair, 30)
    assert half.target.shape == (20, 30, 3) and half.source.shape == (20, 30, 3)
    assert half.flow is not None and half.flow.shape == (2, 20, 30)
    np.testing.assert_allclose(half.flow[0], -6.0, atol=1e-5)
    np.testing.assert_allclose(half.flow[1], 3.0, atol=1e-5)
    assert resize_pair(ExamplePair("x", "no flow", image, image), 60).flow is None


@pytest.mark.parametrize("with_matches", [False, True])
def test_all_window_sources_is_window_sources_for_every_cell(
    generator: torch.Generator, with_matches: bool
) -> None:
    target_grid, source_grid, radius = (4, 5), (3, 6), 2
    matches = None
    if with_matches:
        matches = torch.stack(
            [
                torch.randint(0, 6, target_grid, generator=generator),
                torch.randint(0, 3, target_grid, generator=generator),
            ]
        ).double()
    grid = target_grid if with_matches else source_grid
    every = all_window_sources(target_grid, radius, grid, matches)
    assert every.shape == (4, 5, 5, 5, 2)
    for y in range(4):
        for x in range(5):
            assert torch.equal(every[y, x], window_sources((x, y), radius, grid, matches))


@pytest.mark.parametrize("with_matches", [False, True])
def test_local_best_match_against_a_loop(generator: torch.Generator, with_matches: bool) -> None:
    """The best entry that reads a source cell, found by looping over every window entry and
    working out by hand which source cell it reads."""
    height, width, source_height, source_width, radius = 4, 5, 3, 6, 1
    size = 2 * radius + 1
    volume = torch.randn(2, height, width, size, size, generator=generator, dtype=torch.float64)
    volume[0, 0, 0] = 5.0  # ties: the first entry (dy-major) wins
    matches = None
    if with_matches:
        matches = torch.stack(
            [
                torch.randint(0, source_width, (2, height, width), generator=generator),
                torch.randint(0, source_height, (2, height, width), generator=generator),
            ],
            dim=1,
        ).double()
    found = local_best_match(volume, (source_height, source_width), matches)
    assert found.shape == (2, 2, height, width)
    for b in range(2):
        for y in range(height):
            for x in range(width):
                best, cell = -float("inf"), None
                for i in range(size):
                    for j in range(size):
                        nx, ny = x + j - radius, y + i - radius
                        if matches is None:
                            if not (0 <= nx < source_width and 0 <= ny < source_height):
                                continue
                            sx, sy = nx, ny
                        else:
                            if not (0 <= nx < width and 0 <= ny < height):
                                continue
                            sx, sy = int(matches[b, 0, ny, nx]), int(matches[b, 1, ny, nx])
                        if float(volume[b, y, x, i, j]) > best:
                            best, cell = float(volume[b, y, x, i, j]), (sx, sy)
                assert cell is not None
                assert found[b, :, y, x].tolist() == [float(cell[0]), float(cell[1])]


def test_local_best_match_is_nan_where_no_entry_reads_the_source() -> None:
    volume = torch.zeros(1, 1, 5, 3, 3)  # target cells x = 3, 4 lie beyond a 1-wide source
    found = local_best_match(volume, (1, 1))
    assert found[0, :, 0, 0].tolist() == [0.0, 0.0] and found[0, :, 0, 1].tolist() == [0.0, 0.0]
    assert torch.isnan(found[0, :, 0, 2:]).all()
