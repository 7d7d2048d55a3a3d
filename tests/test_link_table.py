# SPDX-License-Identifier: MIT
"""The explorer's link parser (``explorer.link.view_from_query``) against a table of query
strings written by hand and the views they mean, each field of the view different from the
fresh view's, each key read on its own as well as together; and what a link may not say."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl

import pytest
import torch

from explorer import link
from explorer.network_compute import NetworkChoice
from explorer.pipeline import Pipeline, Settings
from explorer.rules_render import ConfidenceChoice
from explorer.state import View

FULL_QUERY = (
    "pair=chelsea-shift&x=50&y=40&features=daisy&normalization=l2&working_size=160"
    "&search_radius=3&num_iter=2&initializer=flexible-simple&query_loss=true"
    "&local_centre=same+position&gocor_parameters=paper+initial+values&iteration=1"
    "&colours=shared&flow=open&network=correlation&matches=gocor&measure=mass&hide=40"
)
FULL_SETTINGS = Settings(
    features="daisy",
    normalization="l2",
    working_size=160,
    search_radius=3,
    num_iter=2,
    initializer="flexible-simple",
    query_loss=True,
    local_centre="same position",
    gocor_parameters="paper initial values",
)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    torch.set_num_threads(1)
    return Pipeline()


def fresh(pipeline: Pipeline) -> View:
    """A newly opened page: the first gallery pair's view with every default."""
    return View(pipeline.example_pair("brick-shift"), Settings(), (1.0, 1.0), 3)


def expected_views(start: View) -> dict[str, View]:
    """Query string -> the view it means, from ``start`` (the fresh view)."""
    full = View(
        pair_id="example:chelsea-shift",
        settings=FULL_SETTINGS,
        pixel=(50.0, 40.0),
        iteration=1,
        colour_scale="shared (0 to 1)",
        network=NetworkChoice("correlation"),
        flow_open=True,
        confidence=ConfidenceChoice("global GOCor", "mass within 1 cell", 40),
    )
    replace = dataclasses.replace
    return {
        FULL_QUERY: full,
        "network=correlation": replace(start, network=NetworkChoice("correlation")),
        "network=correlation&flow=open": replace(
            start, network=NetworkChoice("correlation"), flow_open=True
        ),
        "flow=open": replace(start, flow_open=True),
        "network=gocor&flow=open": replace(start, flow_open=True),
        "pair=gravel-warp": replace(start, pair_id="example:gravel-warp"),
        "x=7.9&y=12": replace(start, pixel=(7.0, 12.0)),
        "iteration=0": replace(start, iteration=0),
        "colours=shared": replace(start, colour_scale="shared (0 to 1)"),
        # A settings change resets the shown iteration to the new K.
        "num_iter=5": replace(start, settings=replace(start.settings, num_iter=5), iteration=5),
        "normalization=none": replace(
            start, settings=replace(start.settings, normalization="none")
        ),
        "matches=gocor": replace(start, confidence=ConfidenceChoice("global GOCor")),
        "measure=forward-backward&hide=0": replace(
            start, confidence=ConfidenceChoice(measure="forward-backward error", hidden=0)
        ),
    }


def test_the_table_covers_every_field_and_the_full_link_changes_each_one(pipeline):
    start = fresh(pipeline)
    full = expected_views(start)[FULL_QUERY]
    for item in dataclasses.fields(View):
        assert getattr(full, item.name) != getattr(start, item.name), item.name
    linked = {item.name for item in dataclasses.fields(Settings)} - {"weights", "feature_weights"}
    keys = {key for key, _ in parse_qsl(FULL_QUERY)}
    assert linked <= keys
    for name in linked:
        assert getattr(FULL_SETTINGS, name) != getattr(start.settings, name), name


def test_each_query_of_the_table_opens_its_view(pipeline):
    start = fresh(pipeline)
    for query, expected in expected_views(start).items():
        view, problems = link.view_from_query(dict(parse_qsl(query)), start, pipeline)
        assert problems == [], query
        assert view == expected, query


def test_the_full_view_writes_the_full_query(pipeline):
    full = expected_views(fresh(pipeline))[FULL_QUERY]
    assert dict(parse_qsl(link.query_of(full))) == dict(parse_qsl(FULL_QUERY))


@pytest.mark.parametrize(
    "query", ["network=authors", "network=vgg&flow=open", "colours=loud", "iteration=9"]
)
def test_what_a_link_may_not_say_is_reported_and_changes_nothing(pipeline, query):
    start = fresh(pipeline)
    view, problems = link.view_from_query(dict(parse_qsl(query)), start, pipeline)
    assert len(problems) == 1 and view == start


def test_a_link_to_your_own_images_says_it_cannot_carry_them(pipeline):
    """An upload's link names no pair the server has (it keeps no one's images): opened, it
    says so and shows its settings and pixel on the page's pair, never silently another."""
    start = fresh(pipeline)
    upload = dataclasses.replace(start, pair_id="upload:0123456789abcdef:label", pixel=(9.0, 4.0))
    query = dict(parse_qsl(link.query_of(upload)))
    assert query["pair"] == "own-images"
    view, problems = link.view_from_query(query, start, pipeline)
    assert view == dataclasses.replace(start, pixel=(9.0, 4.0))
    assert len(problems) == 1 and "own images" in problems[0], problems
