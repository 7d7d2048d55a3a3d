# SPDX-License-Identifier: MIT
"""The outputs' registry (explorer/outputs.py): one declaration is enough for a new picture to
appear in the page, be sent by the events it declares (and only by those), and be drawn; every
list of outputs is derived from the registry."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from explorer import outputs
from explorer.handlers import Explorer
from explorer.outputs import OUTPUTS, Frame, Output, picture
from explorer.pipeline import Pipeline, Settings
from explorer.state import KEEP, Session, View

SMALL = Settings(working_size=160, num_iter=2, search_radius=3)
NAME = "cell_colour"  # the throwaway output: a square of the clicked cell's colour


def _draw(frame: Frame) -> np.ndarray:
    x, y = frame.view.pixel
    colour = frame.working.pair.target[int(y), int(x)]
    return np.broadcast_to(colour, (32, 32, 3)).copy()


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Output:
    """A picture declared the way explorer/README.md says ("Adding a picture")."""
    output = Output(
        NAME,
        "plots",  # beside the GOCor losses and the learned functions
        picture("the clicked cell's colour", "cell-colour"),
        key=outputs.cell_key(NAME),
        draw=_draw,
        events=frozenset({"pixel"}),  # a click on the target redraws it
    )
    monkeypatch.setitem(OUTPUTS, NAME, output)
    return output


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    torch.set_num_threads(2)
    return Explorer(Pipeline(), SMALL)


def _session(explorer: Explorer) -> Session:
    session = Session(View(explorer.pipeline.example_pair("brick-shift"), SMALL, (60.0, 50.0), 2))
    screen = explorer.redraw(session)
    while screen.compute:
        screen = explorer.fulfil(session)
    return session


def test_lists_of_outputs_come_from_the_registry() -> None:
    assert set(outputs.PICTURES) | set(outputs.FILES) <= set(OUTPUTS)
    assert outputs.reach(None) == frozenset(OUTPUTS)
    click = outputs.reach("pixel")
    assert {"target", "gocor_global", "strip", "table", "link"} <= click
    assert not click & {"losses", "settings", "flow", "confidence_map", "example"}


def test_a_registered_picture_is_drawn_on_its_events_only(
    registered: Output, explorer: Explorer
) -> None:
    session = _session(explorer)
    assert isinstance(session.shown.get(NAME), tuple)  # drawn with everything on a redraw
    with outputs.reaching("pixel"):
        clicked = explorer.click(session, 20, 30)
    colour = explorer.pipeline.working_pair(session.view.pair_id, SMALL).pair.target[30, 20]
    assert isinstance(clicked.values.get(NAME), np.ndarray)
    assert (clicked.values[NAME][0, 0] == colour).all()
    with outputs.reaching("pixel"):  # the same cell again: nothing to send
        assert getattr(explorer.click(session, 21, 31), NAME) is KEEP
    with outputs.reaching("confidence"):  # an event it does not declare: not looked at
        screen = explorer.set_confidence(session, "global correlation", "peak ratio", 10)
    assert NAME not in screen.values
    assert "confidence_map" in screen.values


def test_a_registered_picture_is_in_the_page_and_in_its_events(
    registered: Output, explorer: Explorer
) -> None:
    from explorer.app import build

    demo = build(explorer)
    config: dict[str, Any] = demo.config
    ids = {
        component["props"].get("elem_id"): component["id"]
        for component in config["components"]
        if component.get("props", {}).get("elem_id")
    }
    assert "cell-colour" in ids  # laid out at its place
    new, target = ids["cell-colour"], ids["target"]

    def outputs_of(trigger: int, event: str) -> list[set[int]]:
        return [
            set(dependency["outputs"])
            for dependency in config["dependencies"]
            if [trigger, event] in [list(item) for item in dependency["targets"]]
        ]

    # A click changes the page's redraw state (explorer.wiring.Wiring.redraw), whose change
    # event draws what clicks reach: the new picture among them.
    redraws = [
        output
        for found in outputs_of(target, "select")
        for output in found
        if any(new in drawn for drawn in outputs_of(output, "change"))
    ]
    assert redraws
    confidence = ids["confidence-volume"]
    assert outputs_of(confidence, "input")
    assert all(new not in found for found in outputs_of(confidence, "input"))
