# SPDX-License-Identifier: MIT
"""One pixel's scores at every level of a GLU-Net trace (gocor_lite.pictures.levels), and where
a local level's window reads the source (LevelView.warped_from).

The maps of hand-built levels are checked against expectations built here another way (block
images with np.kron, windows placed by a loop); warped_from against the network itself: the
source features sampled at warped_from, by a bilinear look-up written here, give exactly the
level's volume (a naive loop over the window)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gocor_lite.core.warp import Frame
from gocor_lite.glunet import GLUNet, GLUNetConfig, LevelView
from gocor_lite.pictures.levels import level_scores


def _level(
    kind: str,
    volume: torch.Tensor,
    target_frame: Frame,
    source_frame: Frame,
    cell_flow: torch.Tensor,
    warped_from: torch.Tensor | None = None,
    iterations: list[torch.Tensor] | None = None,
) -> LevelView:
    gocor = None if iterations is None else SimpleNamespace(volumes=iterations)
    return LevelView(
        key="level2" if kind == "local" else "level4",
        title=f"a {kind} level",
        kind=kind,  # type: ignore[arg-type]
        volume=volume,
        decoder_volume=volume * 2,  # "post-processed": told apart from the volume
        gocor=gocor,  # type: ignore[arg-type]
        virtual_size=(0, 0),
        target_frame=target_frame,
        source_frame=source_frame,
        cell_flow=cell_flow,
        flow=torch.zeros(1, 2, 1, 1),
        warped_from=warped_from,
    )


def test_a_global_level_shows_every_source_cell_on_its_pixels() -> None:
    # Grid 2 x 3 cells; target 20 x 30 px (cells of 10 px), source 40 x 60 px (cells of 20 px).
    target_frame, source_frame = Frame((2, 3), (10.0, 10.0)), Frame((2, 3), (20.0, 20.0))
    volume = torch.zeros(1, 2, 3, 2, 3)
    scores = torch.tensor([[0.1, 0.5, 0.2], [0.3, 0.0, 0.9]])
    volume[0, 0, 1] = scores  # target cell (x=1, y=0)
    cell_flow = torch.zeros(1, 2, 2, 3)
    cell_flow[0, :, 0, 1] = torch.tensor([3.0, -2.0])
    true_flow = np.full((2, 20, 30), np.nan, np.float32)
    true_flow[:, 4, 14] = (30.0, 20.0)  # at the centre (14.5, 4.5), rounded half to even
    view = _level("global", volume, target_frame, source_frame, cell_flow)
    (level,) = level_scores([view], (14.0, 3.0), true_flow)
    assert level.cell == (1, 0) and level.centre == (14.5, 4.5)
    assert level.names == ("feature correlation", "post-processed (what its decoder reads)")
    np.testing.assert_array_equal(level.maps[0], np.kron(scores.numpy(), np.ones((20, 20))))
    np.testing.assert_array_equal(level.maps[1], np.kron(2 * scores.numpy(), np.ones((20, 20))))
    # Best: source cell (x=2, y=1), centred on ((2 + 0.5) * 20 - 0.5, (1 + 0.5) * 20 - 0.5).
    assert level.best[0] == (49.5, 29.5) and level.peaks[0] == pytest.approx(0.9)
    assert level.flow_match == (17.5, 2.5)
    assert level.true_match == (44.5, 24.5)
    assert level.errors[0] == pytest.approx(math.hypot(5.0, 5.0))
    assert level.flow_error == pytest.approx(math.hypot(27.0, 22.0))
    assert level.window is None
    # A pixel off the grid picks the nearest cell (clamped); no ground truth: no errors.
    (corner,) = level_scores([view], (-3.0, 500.0))
    assert corner.cell == (0, 1) and corner.true_match is None and corner.errors == (None, None)


def test_gocor_levels_have_one_map_per_iteration() -> None:
    frame = Frame((2, 2), (8.0, 8.0))
    iterations = [
        torch.rand(1, 2, 2, 2, 2, generator=torch.Generator().manual_seed(k)) for k in range(4)
    ]
    view = _level("global", iterations[-1], frame, frame, torch.zeros(1, 2, 2, 2), None, iterations)
    (level,) = level_scores([view], (12.0, 3.0))
    assert level.names == tuple(f"GOCor iteration {k}" for k in range(4))
    for k, scores in enumerate(level.maps):
        expected = np.kron(iterations[k][0, 0, 1].numpy(), np.ones((8, 8)))
        np.testing.assert_array_equal(scores, expected)


def _expected_window(
    volume: torch.Tensor, warped_from: torch.Tensor, cell: tuple[int, int], stride: float
) -> np.ndarray:
    """The window of ``cell`` on the source's (h, w) cells, by a loop over its entries."""
    _, height, width, side, _ = volume.shape
    radius = side // 2
    out = np.full((height, width), -np.inf)
    cx, cy = cell
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            x, y = cx + dx, cy + dy
            if not (0 <= x < width and 0 <= y < height):
                continue  # the warped map is zero-padded there: no source position
            px, py = warped_from[0, :, y, x].tolist()
            column, row = round((px + 0.5) / stride - 0.5), round((py + 0.5) / stride - 0.5)
            if 0 <= column < width and 0 <= row < height:
                out[row, column] = max(
                    out[row, column], float(volume[0, cy, cx, radius + dy, radius + dx])
                )
    return np.where(np.isinf(out), np.nan, out)


def test_a_local_window_is_drawn_where_it_reads_the_source() -> None:
    # Grid 4 x 5 cells of 10 px on target and source (40 x 50 px), R = 1. Every warped feature
    # was read 2 cells to the right of its target cell, and 0.4 cell lower (rounds to the cell).
    frame = Frame((4, 5), (10.0, 10.0))
    centres = frame.centres(torch.zeros(1, dtype=torch.float64))  # (1, 2, 4, 5)
    warped_from = centres + torch.tensor([20.0, 4.0], dtype=torch.float64).view(1, 2, 1, 1)
    volume = torch.arange(4 * 5 * 9, dtype=torch.float32).view(1, 4, 5, 3, 3) / 100
    cell_flow = torch.zeros(1, 2, 4, 5)
    view = _level("local", volume, frame, frame, cell_flow, warped_from)
    (level,) = level_scores([view], (24.0, 2.0))  # target cell (2, 0)
    assert level.cell == (2, 0) and level.search_radius == 1
    expected = _expected_window(volume, warped_from, (2, 0), 10.0)
    # Row dy = -1 is off the target grid, column dx = +1 reads x = 2 + 1 + 2 = 5: off the source.
    assert np.isfinite(expected).sum() == 4
    np.testing.assert_array_equal(level.maps[0], np.kron(expected, np.ones((10, 10))))
    # The best entry, [R+1, R+0] (dy = +1, dx = 0), at its exact source position.
    best = warped_from[0, :, 1, 2].tolist()
    assert level.best[0] == pytest.approx(tuple(best))
    assert level.peaks[0] == pytest.approx(float(volume[0, 0, 2, 2, 1]))
    # The box round the window's cells: columns 3..4, rows 0..1.
    assert level.window == pytest.approx((29.5, -0.5, 49.5, 19.5))


def test_window_entries_on_one_source_cell_keep_the_highest_score() -> None:
    frame = Frame((3, 3), (4.0, 4.0))
    warped_from = torch.full((1, 2, 3, 3), 5.5, dtype=torch.float64)  # all read cell (1, 1)
    volume = torch.zeros(1, 3, 3, 3, 3)
    volume[0, 1, 1] = torch.tensor([[0.1, 0.7, 0.2], [0.3, 0.4, 0.5], [0.6, 0.0, 0.65]])
    view = _level("local", volume, frame, frame, torch.zeros(1, 2, 3, 3), warped_from)
    (level,) = level_scores([view], (5.0, 5.0))
    cells = np.full((3, 3), np.nan)
    cells[1, 1] = 0.7
    np.testing.assert_allclose(level.maps[0], np.kron(cells, np.ones((4, 4))))
    assert level.best[0] == (5.5, 5.5)


def _sample(features: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """Bilinear look-up of ``features (C, h, w)`` at cell coordinates ``(x, y)`` (position X
    reads cell X exactly), zero outside the map."""
    channels, height, width = features.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = torch.zeros(channels, dtype=features.dtype)
    for column, weight_x in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
        for row, weight_y in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
            if 0 <= column < width and 0 <= row < height:
                out += weight_x * weight_y * features[:, row, column]
    return out


def _to_cells(pixel: float, image_side: int, virtual_side: int, stride: int) -> float:
    """An original pixel coordinate -> the level's cells (resizing keeps pixel centres)."""
    virtual = (pixel + 0.5) * virtual_side / image_side - 0.5
    return (virtual + 0.5) / stride - 0.5


@pytest.mark.parametrize("sizes", [((96, 128), (96, 128)), ((96, 128), (120, 100))])
def test_warped_from_is_where_each_local_volume_reads_the_source(sizes) -> None:
    """For every local level of a (random) correlation network, the level's own target
    features against the source features sampled at warped_from give its volume."""
    torch.manual_seed(0)
    config = GLUNetConfig.small(gocor=False, channels=(8, 8, 12, 16), width=0.125)
    network = GLUNet(config).eval().double()
    generator = torch.Generator().manual_seed(1)
    target = torch.randint(0, 256, (1, 3, *sizes[0]), generator=generator, dtype=torch.uint8)
    source = torch.randint(0, 256, (1, 3, *sizes[1]), generator=generator, dtype=torch.uint8)
    trace = network.trace(target, source)
    with torch.no_grad():
        fine = dict(zip(("c1", "c2"), network.pyramid(trace.target_pre, (2, 3)), strict=True))
        fine_source = dict(
            zip(("c1", "c2"), network.pyramid(trace.source_pre, (2, 3)), strict=True)
        )
        coarse = network.pyramid(trace.target_256, (3,))[0]
        coarse_source = network.pyramid(trace.source_256, (3,))[0]
    # level -> (target features, source features, stride in virtual pixels, virtual size)
    working = trace.working_size
    features = {
        "level3": (coarse, coarse_source, 8, (256, 256)),
        "level2": (fine["c2"], fine_source["c2"], 8, working),
        "level1": (fine["c1"], fine_source["c1"], 4, working),
    }
    rng = np.random.default_rng(2)
    (source_height, source_width) = sizes[1]
    for key, (target_features, source_features, stride, virtual) in features.items():
        view = trace.level(key)
        assert view.warped_from is not None and view.kind == "local"
        _, height, width, side, _ = view.volume.shape
        radius = side // 2
        channels = target_features.shape[1]
        for _ in range(6):
            cx, cy = int(rng.integers(width)), int(rng.integers(height))
            for dy in range(-radius, radius + 1, 2):
                for dx in range(-radius, radius + 1, 2):
                    x, y = cx + dx, cy + dy
                    if not (0 <= x < width and 0 <= y < height):
                        continue
                    px, py = view.warped_from[0, :, y, x].tolist()
                    read = _sample(
                        source_features[0],
                        _to_cells(px, source_width, virtual[1], stride),
                        _to_cells(py, source_height, virtual[0], stride),
                    )
                    expected = float(target_features[0, :, cy, cx] @ read) / channels
                    got = float(view.volume[0, cy, cx, radius + dy, radius + dx])
                    assert got == pytest.approx(expected, rel=1e-6, abs=1e-9), (key, cx, cy, dx, dy)
    assert trace.level("level4").warped_from is None
