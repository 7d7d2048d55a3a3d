# SPDX-License-Identifier: MIT
"""The explorer's words and drawn texts agree with what it shows: titles that fit, labels that do
not overprint, notes that match their tables, messages that say what to do."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from explorer import link, render, rules_render
from explorer.explanations import SETTINGS as SETTING_HELP
from explorer.handlers import Explorer
from explorer.pipeline import GOCOR_PARAMETERS, MAX_ASPECT, MIN_SIDE, Pipeline, Settings
from explorer.state import Session, View

SMALL = Settings(working_size=160, num_iter=2, search_radius=3)


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    torch.set_num_threads(1)
    return Explorer(Pipeline(threads=1), SMALL)


def test_a_long_title_is_wrapped_never_cut() -> None:
    text = (
        "cell (12, 7)'s 9×9 window after warping by the coarser flow, drawn where it reads the "
        "source; this level's flow: 3.2 px off"
    )
    band = render._title_band(text, 300, 14)
    ink = (band < 128).any(axis=2)
    assert not ink[:, -6:].any(), "the text runs into the right edge"
    assert band.shape[0] > 14 + 14  # more than one line
    single = render._title_band("level 1", 300, 14)
    assert single.shape[0] == 14 + 14  # a short title keeps its one line


def _boxes(axis, renderer):
    """The drawn y tick labels of ``axis`` (those of ticks within its limits)."""
    low, high = sorted(axis.get_ylim())
    return [
        label.get_window_extent(renderer)
        for tick, label in zip(axis.get_yticks(), axis.get_yticklabels(), strict=True)
        if label.get_text() and low <= tick <= high
    ]


def test_the_plots_labels_do_not_overprint(explorer: Explorer) -> None:
    from gocor_lite.pictures.score_maps import draw_distance_functions, draw_losses

    pair_id = explorer.pipeline.example_pair("chelsea-shift")
    computed = explorer.pipeline.compute(pair_id, SMALL)
    for draw in (draw_losses, draw_distance_functions):
        figure = render.plot_figure(computed, draw, "a title")
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        width, height = figure.canvas.get_width_height()
        axes = figure.axes
        for axis in axes:
            ticks = _boxes(axis, renderer)
            label = axis.yaxis.label.get_window_extent(renderer)
            if axis.yaxis.label.get_text():
                assert label.x0 >= 0, "the y label is cut at the figure's edge"
                assert not any(label.overlaps(tick) for tick in ticks), draw.__name__
            for other in axes:
                if other is not axis and other.yaxis.label.get_text():
                    assert not axis.bbox.overlaps(other.yaxis.label.get_window_extent(renderer))
            for text in [*ticks, axis.title.get_window_extent(renderer)]:
                assert text.x0 >= 0 and text.x1 <= width and text.y0 >= 0 and text.y1 <= height


def test_the_window_note_agrees_with_the_table_beside_it(explorer: Explorer) -> None:
    """Where the note says the local methods cannot come within one cell of the true match,
    the table's local errors (the same probe) are a cell or more, and quoted; where the table
    shows a local method within a cell, there is no such note."""
    settings = Settings(num_iter=2, local_centre="same position")  # 320 px: R = 4 is too small
    pair_id = explorer.pipeline.example_pair("brick-shift")
    computed = explorer.pipeline.compute(pair_id, settings)
    height, width = computed.target_grid
    said = 0
    for y in range(0, height, 2):
        for x in range(0, width, 2):
            centre = (x * computed.stride + computed.stride / 2, y * computed.stride + 4.0)
            probe = explorer.pipeline.probe(computed, centre, settings.num_iter)
            note = rules_render.window_note(computed, probe.cell, probe)
            errors = [probe.local_correlation.error, probe.gocor_local.error]
            if not note:
                continue
            said += 1
            assert all(e is not None and e >= computed.stride for e in errors), (note, errors)
            assert f"local GOCor {errors[1]:.1f} px" in note
    assert said > 0  # the shift of brick-shift leaves most windows


def test_a_pixel_without_a_true_match_on_a_pair_with_ground_truth(explorer: Explorer) -> None:
    pair_id = explorer.pipeline.example_pair("astronaut-warp")
    working = explorer.pipeline.working_pair(pair_id, SMALL)
    height, width = working.target_grid
    unknown = next(
        (x, y) for y in range(height) for x in range(width) if working.true_match((x, y)) is None
    )
    session = Session(View(pair_id, SMALL, working.centre(unknown), SMALL.num_iter))
    screen = explorer.redraw(session)
    if screen.compute:
        screen = screen.merged(explorer.fulfil(session))
    assert "No ground truth" not in screen.status
    assert "This pixel's true match is unknown" in screen.status


def _done(explorer: Explorer, session: Session, screen):
    return screen.merged(explorer.fulfil(session)) if screen.compute else screen


def test_a_synthetic_warp_of_an_upload_names_no_internal_size(explorer: Explorer, tmp_path) -> None:
    from PIL import Image

    path = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (95, 126, 3), dtype=np.uint8)
    Image.fromarray(np.kron(small, np.ones((16, 16, 1), np.uint8))).save(path)  # 2016×1520
    session = Session(View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (50, 50), 2))
    _done(explorer, session, explorer.make_synthetic(session, str(path), 0, "homography"))
    screen = _done(explorer, session, explorer.apply_settings(session, {"working_size": 320}))
    assert session.view.settings.working_size == 320, screen.status
    sizes = set(re.findall(r"(\d+)×(\d+) px", screen.status))
    # only the working resolution (and no copy made at 160 px, or kept at 480 px)
    assert sizes <= {("320", "240"), ("320", "241")}, screen.status


def test_an_uploads_link_says_what_to_do(explorer: Explorer) -> None:
    view = explorer.initial_view()
    _, problems = link.view_from_query({"pair": link.OWN_IMAGES}, view, explorer.pipeline)
    assert "upload them again" in problems[0]


def test_trained_parameters_asked_for_but_absent_are_said_so(explorer: Explorer) -> None:
    settings = dataclasses.replace(SMALL, initializer="flexible-simple")
    assert settings.gocor_parameters == GOCOR_PARAMETERS[0]
    session = Session(View(explorer.pipeline.example_pair("chelsea-shift"), settings, (50, 50), 2))
    screen = _done(explorer, session, explorer.redraw(session))
    assert f"“{GOCOR_PARAMETERS[0]}” has none" in screen.status
    assert "falls back to the initial values" in SETTING_HELP["gocor_parameters"]


def test_the_pages_fixed_texts_match_what_it_accepts() -> None:
    import gradio as gr

    from explorer.app import build

    demo = build(Explorer(Pipeline(threads=1), SMALL), compute_first=False)
    blocks = list(demo.blocks.values())
    files = [block for block in blocks if isinstance(block, gr.File) and block.file_types]
    for block in files:
        for kind in block.file_types:
            if kind.startswith("."):
                assert kind in block.label, (block.label, block.file_types)
    texts = [block.value for block in blocks if isinstance(block, gr.Markdown)]
    heading = next(text for text in texts if "Source image" in text)
    assert "◯ true match" not in heading or "where the pair has" in heading
    upload = next(text for text in texts if "each side at least" in text)
    assert f"{MAX_ASPECT:g}:1" in upload and f"{MIN_SIDE} px" in upload
