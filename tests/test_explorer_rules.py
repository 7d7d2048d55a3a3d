# SPDX-License-Identifier: MIT
"""The explorer's rules, confidence, export and link, without Gradio: whole-image numbers and
exported files against loops and formulas written here, thresholds by their ranking property,
files never stale, links that reopen the same view."""

from __future__ import annotations

import dataclasses
import io
import math
import zipfile
from urllib.parse import parse_qsl

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import link, render, rules_render
from explorer.analysis import CONFIDENCE_MEASURES, CONFIDENCE_VOLUMES
from explorer.export_files import score_map_names
from explorer.handlers import Explorer
from explorer.outputs import Screen
from explorer.pipeline import Pipeline, Settings
from explorer.rules_render import ConfidenceChoice, kept_cells
from explorer.state import KEEP, Session, View
from gocor_lite.files.export import read_flo, read_matches_csv

SMALL = Settings(working_size=160, num_iter=2, search_radius=3)


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    torch.set_num_threads(2)
    return Explorer(Pipeline(), SMALL)


def _done(explorer: Explorer, session: Session, screen: Screen) -> Screen:
    while screen.compute:
        screen = screen.merged(explorer.fulfil(session))
    return screen


def _session(explorer: Explorer, name: str = "chelsea-shift", settings: Settings = SMALL):
    session = Session(View(explorer.pipeline.example_pair(name), settings, (50.0, 40.0), 2))
    _done(explorer, session, explorer.redraw(session))
    return session


def _computed(explorer: Explorer, session: Session):
    computed = explorer.pipeline.cached(session.view.pair_id, session.view.settings)
    assert computed is not None
    return computed


def _truth_by_hand(flow: np.ndarray, height: int, width: int, stride: int):
    """The true source pixel of each cell centre: the flow read bilinearly there, known where
    the four pixels around the centre are known."""
    truth = np.full((2, height, width), np.nan)
    for y in range(height):
        for x in range(width):
            cx, cy = x * stride + (stride - 1) / 2, y * stride + (stride - 1) / 2
            x0, y0 = math.floor(cx), math.floor(cy)
            fx, fy = cx - x0, cy - y0
            corners = flow[:, y0 : y0 + 2, x0 : x0 + 2]
            if corners.shape[1:] != (2, 2) or not np.isfinite(corners).all():
                continue
            weights = np.array([[(1 - fy) * (1 - fx), (1 - fy) * fx], [fy * (1 - fx), fy * fx]])
            truth[:, y, x] = np.array([cx, cy]) + (corners * weights).sum(axis=(1, 2))
    return truth


def _argmax_cells(volume: np.ndarray) -> np.ndarray:
    """(2, h, w) source cells of each row's highest score, by a plain loop."""
    height, width = volume.shape[:2]
    cells = np.zeros((2, height, width))
    for y in range(height):
        for x in range(width):
            row, column = np.unravel_index(np.argmax(volume[y, x]), volume.shape[2:])
            cells[:, y, x] = (column, row)
    return cells


def test_whole_image_accuracy_of_the_argmax_and_of_local_windows_by_hand(explorer):
    for centre in ("coarse flow", "same position"):
        settings = dataclasses.replace(SMALL, local_centre=centre)
        computed = _computed(explorer, _session(explorer, "chelsea-shift", settings))
        stride = computed.stride
        height, width = computed.target_grid
        truth = _truth_by_hand(computed.pair.flow, height, width, stride)
        known = np.isfinite(truth).all(axis=0)

        def numbers(cells: np.ndarray) -> tuple[float, float, int]:
            error = np.hypot(*(cells * stride + (stride - 1) / 2 - truth))[known]
            return 100 * float((error < stride).mean()), float(error.mean()), int(known.sum())

        argmax = _argmax_cells(computed.correlation.numpy())
        score = computed.analysis.scores["argmax"]
        assert (score.within_cell, score.aepe, score.count) == pytest.approx(numbers(argmax))
        assert score.accepted == 100.0
        # Local correlation: the best window entry that reads a source cell, by a loop.
        radius, local = computed.settings.search_radius, computed.local.numpy()
        coarse = None if computed.coarse_matches is None else computed.coarse_matches.numpy()
        source_height, source_width = computed.source_grid
        cells = np.zeros((2, height, width))
        for y in range(height):
            for x in range(width):
                best = -np.inf
                for i in range(2 * radius + 1):
                    for j in range(2 * radius + 1):
                        nx, ny = x + j - radius, y + i - radius
                        if coarse is None:
                            inside = 0 <= nx < source_width and 0 <= ny < source_height
                            source = (nx, ny)
                        else:
                            inside = 0 <= nx < width and 0 <= ny < height
                            source = tuple(coarse[:, ny, nx]) if inside else (0, 0)
                        if inside and local[y, x, i, j] > best:
                            best, cells[:, y, x] = local[y, x, i, j], source
        local_score = computed.analysis.scores["local correlation"]
        assert (local_score.within_cell, local_score.aepe) == pytest.approx(numbers(cells)[:2])
        if centre == "coarse flow":  # its window holds the global best: the same matches
            np.testing.assert_array_equal(cells, argmax)


def test_the_table_and_the_panel_say_what_each_method_does(explorer):
    session = _session(explorer)
    computed = _computed(explorer, session)
    table = rules_render.accuracy_table(computed, 1, "chelsea-shift")
    assert "GOCor global, iteration 1" in table and "Sinkhorn with a dustbin" in table
    within = computed.analysis.gocor_global_scores[1].within_cell
    assert f"| GOCor global, iteration 1 | {within:.1f}% |" in table
    assert "reach the true match of" in table
    probe = explorer.pipeline.probe(computed, session.view.pixel, 2)
    panel = rules_render.rules_panel(computed, probe)
    scale = rules_render.rule_tile_scale(computed.pair.source)
    assert panel.dtype == np.uint8 and panel.shape[1] >= 4 * computed.pair.source.shape[1] * scale
    # Without ground truth the table says so instead of numbers.
    upload = dataclasses.replace(
        computed, analysis=dataclasses.replace(computed.analysis, scores={})
    )
    assert "no ground truth for this pair" in rules_render.accuracy_table(upload, 1, "mine")


def test_a_window_that_cannot_reach_the_truth_is_said(explorer):
    """The first screen's pair with windows at the same position: its (-62, -36) px shift
    leaves every window (R = 4 cells); the page says so, for the pixel and the whole pair.
    Centred on the coarse flow (the first screen's setting) most windows reach it."""
    assert Settings().local_centre == "coarse flow"
    same = _computed(
        explorer, _session(explorer, "brick-shift", Settings(local_centre="same position"))
    )
    assert same.analysis.reach is not None and not bool(same.analysis.reach.any())
    assert "larger than the window" in rules_render.accuracy_table(same, 3, "brick-shift")
    assert "outside its local window" in rules_render.window_note(same, (20, 14))
    coarse = _computed(explorer, _session(explorer, "brick-shift", Settings()))
    reach = coarse.analysis.reach
    assert reach is not None and coarse.analysis.known is not None
    assert float(reach.sum()) / float(coarse.analysis.known.sum()) > 0.5


@pytest.mark.parametrize("volume", CONFIDENCE_VOLUMES)
@pytest.mark.parametrize("measure", CONFIDENCE_MEASURES)
def test_the_threshold_hides_the_least_confident(explorer, volume: str, measure: str):
    computed = _computed(explorer, _session(explorer))
    analysis = computed.analysis
    raw = analysis.confidence[(volume, measure)].numpy().ravel()
    surer = raw if measure != "forward-backward error" else -raw
    for hidden in (0, 25, 60, 95):
        kept, threshold = kept_cells(analysis, ConfidenceChoice(volume, measure, hidden))
        kept = kept.numpy().ravel()
        limit = math.floor(hidden / 100 * raw.size)
        assert (~kept).sum() <= limit  # never more than asked
        if (~kept).any():  # every hidden match is less sure than every kept one
            assert surer[~kept].max() < surer[kept].min()
        # Fewer only where cells tie at the threshold: each tie is kept or hidden whole.
        if len(np.unique(surer)) == surer.size:
            assert (~kept).sum() == limit
        assert threshold == pytest.approx(raw[kept][np.argmin(surer[kept])])


def test_the_confidence_view_counts_right_matches_by_hand(explorer):
    computed = _computed(explorer, _session(explorer))
    choice = ConfidenceChoice("global correlation", "peak ratio", 40)
    pictures = rules_render.confidence_pictures(computed, choice)
    kept = kept_cells(computed.analysis, choice)[0].numpy()
    height, width = computed.target_grid
    truth = _truth_by_hand(computed.pair.flow, height, width, computed.stride)
    known = np.isfinite(truth).all(axis=0)
    cells = _argmax_cells(computed.correlation.numpy())
    right = np.hypot(*(cells * 8 + 3.5 - np.nan_to_num(truth))) < 8
    for mask, word in ((kept, "kept"), (~kept, "hidden")):
        share = 100 * (right & mask & known).sum() / (mask & known).sum()
        assert f"{word} {share:.0f} % right ({(mask & known).sum()} cells)" in pictures.text
    # The matches picture is black on the hidden cells and nowhere else (the wheel's colours
    # are never black; its title and caption bands are white and grey).
    scale = render.display_scale(computed.pair.target)
    for picture in (pictures.matches, pictures.confidence):
        black = (picture == 0).all(axis=2).sum()
        assert black == (~kept).sum() * (8 * scale) ** 2
    assert pictures.text.startswith("**peak ratio**")


def _peak_ratio_by_hand(volume: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    height, width = volume.shape[:2]
    out = np.zeros((height, width))
    for y in range(height):
        for x in range(width):
            row = volume[y, x]
            by, bx = np.unravel_index(np.argmax(row), row.shape)
            far = np.ones_like(row, bool)
            far[max(by - 1, 0) : by + 2, max(bx - 1, 0) : bx + 2] = False
            second = row[far].max() if far.any() else eps
            out[y, x] = max(row.max(), eps) / max(second, eps)
    return out


def test_the_exported_files_against_the_volumes(explorer):
    session = _session(explorer)
    computed = _computed(explorer, session)
    x, y = computed.target_grid[1] // 2, computed.target_grid[0] // 2
    screen = _done(explorer, session, explorer.click(session, x * 8 + 3, y * 8 + 3))
    # The clicked cell's score maps: (K, h', w'), named and ordered as the page says.
    maps = np.load(screen.score_maps_file)
    names = score_map_names(computed)
    assert maps.shape == (len(names), *computed.source_grid) and maps.dtype == np.float32
    assert f"cell-{x}-{y}" in screen.score_maps_file
    row = computed.correlation[y, x].numpy()
    np.testing.assert_array_equal(maps[names.index("global correlation")], row)
    softmax = np.exp((row - row.max()) / 0.05)
    index = next(i for i, name in enumerate(names) if name.startswith("softmax probability"))
    np.testing.assert_allclose(maps[index], softmax / softmax.sum(), rtol=1e-4, atol=1e-7)
    local = maps[names.index("local correlation")]
    assert 0 < np.isfinite(local).sum() <= (2 * SMALL.search_radius + 1) ** 2
    # Every match with its peak ratio (nothing hidden), rows in target row-major order.
    screen = explorer.set_confidence(session, "global correlation", "peak ratio", 0)
    rows = read_matches_csv(screen.matches_file)
    height, width = computed.target_grid
    assert rows.shape == (height * width, 5)
    cells = _argmax_cells(computed.correlation.numpy())
    np.testing.assert_allclose(rows[:, 2], (cells[0] * 8 + 3.5).ravel())
    np.testing.assert_allclose(rows[:, 3], (cells[1] * 8 + 3.5).ravel())
    np.testing.assert_allclose(rows[:, 0], np.tile(np.arange(width) * 8 + 3.5, height))
    ratio = _peak_ratio_by_hand(computed.correlation.numpy()).ravel()
    np.testing.assert_allclose(rows[:, 4], ratio, rtol=1e-4)
    # Half hidden: the least confident half is left out.
    screen = explorer.set_confidence(session, "global correlation", "peak ratio", 50)
    half = read_matches_csv(screen.matches_file)
    assert len(half) == height * width - (height * width) // 2
    assert half[:, 4].min() >= np.sort(ratio)[(height * width) // 2] * (1 - 1e-6)


def test_the_flow_files_are_the_flow_view_flow(explorer):
    session = _session(explorer)
    screen = _done(explorer, session, explorer.open_flow(session))
    flow = explorer.networks.cached(
        session.view.pair_id, session.view.settings, session.view.network
    )
    assert flow is not None
    expected = flow.trace.estimated_flow[0].numpy()
    from_flo, from_npy = read_flo(screen.flow_flo_file), np.load(screen.flow_npy_file)
    assert from_npy.shape == (2, *flow.pair.target.shape[:2]) and from_npy.dtype == np.float32
    np.testing.assert_array_equal(from_npy, expected)
    np.testing.assert_array_equal(from_flo, expected)
    with open(screen.flow_flo_file, "rb") as file:
        assert file.read(4) == b"PIEH"
    # Closed: no flow is offered.
    screen = explorer.close_flow(session)
    assert screen.flow_flo_file is None and screen.flow_npy_file is None


def test_the_pictures_are_png_of_what_is_shown_and_never_stale(explorer):
    session = _session(explorer)
    screen = explorer.export_pictures(session)
    with zipfile.ZipFile(screen.pictures_file) as archive:
        names = archive.namelist()
        assert "chelsea-shift.target.png" in names and "chelsea-shift.rules-panel.png" in names
        target = np.asarray(Image.open(io.BytesIO(archive.read("chelsea-shift.target.png"))))
    computed = _computed(explorer, session)
    working = explorer.pipeline.working_pair(session.view.pair_id, session.view.settings)
    cell = working.cell(session.view.pixel)
    np.testing.assert_array_equal(target, render.target_picture(working, cell))  # lossless
    assert computed is not None
    # Anything the pictures show changes: the zip is withdrawn at once.
    moved = explorer.click(session, 20, 20)
    assert moved.pictures_file is None
    assert explorer.click(session, 20, 20).pictures_file is KEEP  # nothing changed again


def test_files_are_cleared_until_the_new_view_is_computed(explorer):
    session = _session(explorer)
    explorer.export_pictures(session)
    screen = explorer.apply_settings(session, {"num_iter": 1})
    if screen.compute:  # not in memory yet: nothing of the old settings is offered
        for name in ("score_maps_file", "matches_file", "pictures_file"):
            assert getattr(screen, name) is None, name
        # The flow view is closed: its files were not offered, and still are not.
        assert screen.flow_flo_file in (None, KEEP) and screen.flow_npy_file in (None, KEEP)
    screen = _done(explorer, session, screen)
    assert isinstance(screen.score_maps_file, str) and isinstance(screen.matches_file, str)
    assert screen.pictures_file in (None, KEEP)


def test_a_refused_confidence_choice_sets_the_controls_back(explorer):
    session = _session(explorer)
    before = session.view.confidence
    screen = explorer.set_confidence(session, "global GOCor", "loudness", 10)
    assert screen.warning and "confidence measure must be one of" in screen.status
    assert screen.confidence_choice == before and session.view.confidence == before
    screen = explorer.set_confidence(session, "global GOCor", "peak ratio", 12.5)
    assert screen.warning and "whole number from 0 to 95" in screen.status


def test_a_link_reopens_the_same_view(explorer):
    session = _session(explorer, "stereo-motorcycle")
    view = dataclasses.replace(
        session.view,
        pixel=(33.0, 21.0),
        iteration=1,
        colour_scale=render.COLOUR_SCALES[1],
        confidence=ConfidenceChoice("global GOCor", "forward-backward error", 35),
        flow_open=True,
    )
    query = link.query_of(view)
    fresh = View(explorer.pipeline.example_pair("brick-shift"), Settings(), (1.0, 1.0), 3)
    params = dict(parse_qsl(query))
    reopened, problems = link.view_from_query(params, fresh, explorer.pipeline)
    assert problems == [] and reopened == view
    # What a link gets wrong is said, and the rest of it applies.
    params.update({"num_iter": "lots", "pair": "nowhere", "measure": "vibes"})
    reopened, problems = link.view_from_query(params, fresh, explorer.pipeline)
    assert len(problems) == 3
    assert reopened.pair_id == fresh.pair_id and reopened.settings.num_iter == 3
    assert reopened.settings.working_size == view.settings.working_size
    # Through the action: the page says which parts it could not use.
    screen = explorer.open_link(Session(fresh), {"pair": "nowhere", "x": "5", "y": "6"})
    assert "parts of this link were not used" in screen.status and "nowhere" in screen.status
