# SPDX-License-Identifier: MIT
"""The explorer's words and drawn texts agree with what it shows: titles that fit, labels that do
not overprint, notes that match their tables, messages that say what to do."""

from __future__ import annotations

import pytest
import torch

from explorer import render, rules_view
from explorer.handlers import Explorer
from explorer.pipeline import Pipeline, Settings

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
            note = rules_view.window_note(computed, probe.cell, probe)
            errors = [probe.local_correlation.error, probe.gocor_local.error]
            if not note:
                continue
            said += 1
            assert all(e is not None and e >= computed.stride for e in errors), (note, errors)
            assert f"local GOCor {errors[1]:.1f} px" in note
    assert said > 0  # the shift of brick-shift leaves most windows
