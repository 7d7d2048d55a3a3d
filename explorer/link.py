# SPDX-License-Identifier: MIT
"""The explorer's view in a link: the pair, the pixel and the settings in the page's query
string, so that a link reopens the same view.

:func:`query_of` writes a view as a query string (what the page puts in its address with
``history.replaceState`` after each change); :func:`view_from_query` reads one back onto a
view, keeping what it cannot use and saying why. Only bundled pairs have a name a link can
carry: for uploads and synthetic warps the link keeps the settings and the pixel, and
``pair=own-images``, so that opening it says the images could not come along. Weights
files never go into a link (they are the user's files).

Keys: ``pair``; ``x``, ``y`` (the pixel at the working resolution); every setting by its
:class:`~explorer.pipeline.Settings` field name but the weights files; ``iteration``;
``colours`` (``per-map`` or ``shared``); ``flow`` (``open``), ``network`` (``gocor`` or
``correlation``: this project's networks; the authors' needs a file, which a link never
holds); ``matches``, ``measure``, ``hide`` (the confidence view).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from explorer import render
from explorer.analysis import CONFIDENCE_MEASURES, CONFIDENCE_VOLUMES
from explorer.network_compute import AUTHORS, NetworkChoice
from explorer.pipeline import InputError, Pipeline, Settings
from explorer.rules_render import ConfidenceChoice
from explorer.state import View

#: The settings a link carries (all but the weights files).
LINK_SETTINGS: tuple[str, ...] = tuple(
    item.name
    for item in dataclasses.fields(Settings)
    if item.name not in ("weights", "feature_weights")
)
COLOURS = {"per-map": render.COLOUR_SCALES[0], "shared": render.COLOUR_SCALES[1]}
MATCHES = {"correlation": CONFIDENCE_VOLUMES[0], "gocor": CONFIDENCE_VOLUMES[1]}
MEASURES = {"peak-ratio": CONFIDENCE_MEASURES[0], "mass": CONFIDENCE_MEASURES[1]}
MEASURES["forward-backward"] = CONFIDENCE_MEASURES[2]
#: Every key a link may hold, in the order it is written.
QUERY_KEYS: tuple[str, ...] = (
    "pair",
    "x",
    "y",
    *LINK_SETTINGS,
    "iteration",
    "colours",
    "flow",
    "network",
    "matches",
    "measure",
    "hide",
)


def _key_of(table: Mapping[str, str], value: str) -> str:
    return next(key for key, known in table.items() if known == value)


OWN_IMAGES = "own-images"  # the link's pair for an upload or a synthetic warp


def query_of(view: View) -> str:
    """The query string of a view (without the ``?``)."""
    values: list[tuple[str, str]] = []
    if view.pair_id.startswith("example:"):
        values.append(("pair", view.pair_id.removeprefix("example:")))
    else:  # the server keeps no one's images: the link says whose they were, not what
        values.append(("pair", OWN_IMAGES))
    values += [("x", f"{view.pixel[0]:.0f}"), ("y", f"{view.pixel[1]:.0f}")]
    for name in LINK_SETTINGS:
        value = getattr(view.settings, name)
        values.append((name, ("true" if value else "false") if isinstance(value, bool) else value))
    values += [
        ("iteration", str(view.iteration)),
        ("colours", _key_of(COLOURS, view.colour_scale)),
    ]
    if view.flow_open:
        values.append(("flow", "open"))
    if view.network.kind != AUTHORS:
        values.append(("network", view.network.kind))
    values += [
        ("matches", _key_of(MATCHES, view.confidence.volume)),
        ("measure", _key_of(MEASURES, view.confidence.measure)),
        ("hide", str(view.confidence.hidden)),
    ]
    return urlencode([(key, str(value)) for key, value in values])


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{what} must be a number, not {text[:20]!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, not {text[:20]!r}")
    return value


def _setting(name: str, text: str) -> Any:
    """A setting's value from its text in a link (checked by :meth:`Settings.updated`)."""
    default = getattr(Settings(), name)
    if isinstance(default, bool):
        if text not in ("true", "false"):
            raise InputError(f"{name} must be true or false, not {text[:20]!r}")
        return text == "true"
    if isinstance(default, int):
        return _number(text, name)
    return text


def view_from_query(
    params: Mapping[str, str], view: View, pipeline: Pipeline
) -> tuple[View, list[str]]:
    """``view`` with what the link ``params`` says; returns the new view and a sentence for
    each part of the link that could not be used (that part keeps ``view``'s value)."""
    problems: list[str] = []

    def attempt(what: str, change: Any) -> None:
        nonlocal view
        try:
            view = change()
        except InputError as error:
            problems.append(f"{what}: {error}")

    if params.get("pair") == OWN_IMAGES:
        problems.append(
            "its pair was made of someone's own images (uploaded or warped), which a link "
            "cannot carry: its settings and pixel are shown on this pair instead; to see those "
            "images, upload them again (the Upload tab) or warp the image again with the same "
            "seed (the Synthetic tab)"
        )
    elif "pair" in params:
        name = params["pair"]
        attempt(
            f"pair={name[:40]}",
            lambda: dataclasses.replace(view, pair_id=pipeline.example_pair(name)),
        )
    changes = {name: params[name] for name in LINK_SETTINGS if name in params}
    if changes:
        try:
            values = {name: _setting(name, text) for name, text in changes.items()}
            settings = view.settings.updated(values)
            pipeline.prepare(view.pair_id, settings)
            view = dataclasses.replace(view, settings=settings, iteration=settings.num_iter)
        except InputError:  # one by one: keep those that apply
            for name, text in changes.items():

                def one(name: str = name, text: str = text) -> View:
                    settings = view.settings.updated({name: _setting(name, text)})
                    pipeline.prepare(view.pair_id, settings)
                    return dataclasses.replace(view, settings=settings)

                attempt(f"{name}={text[:40]}", one)
    if "x" in params or "y" in params:

        def pixel() -> View:
            if "x" not in params or "y" not in params:
                raise InputError("a link gives the pixel as both x and y")
            working = pipeline.working_pair(view.pair_id, view.settings)
            height, width = working.pair.target.shape[:2]
            x = _number(params.get("x", ""), "x")
            y = _number(params.get("y", ""), "y")
            if not (0 <= x < width and 0 <= y < height):
                raise InputError(f"({x:g}, {y:g}) is outside the target image ({width}×{height})")
            return dataclasses.replace(view, pixel=(float(math.floor(x)), float(math.floor(y))))

        attempt("the pixel", pixel)
    if "iteration" in params:

        def iteration() -> View:
            value = _number(params["iteration"], "iteration")
            if value != int(value) or not 0 <= value <= view.settings.num_iter:
                raise InputError(f"it must be a whole number from 0 to {view.settings.num_iter}")
            return dataclasses.replace(view, iteration=int(value))

        attempt(f"iteration={params['iteration'][:20]}", iteration)
    if "colours" in params:

        def colours() -> View:
            if params["colours"] not in COLOURS:
                raise InputError(f"it must be {' or '.join(COLOURS)}")
            return dataclasses.replace(view, colour_scale=COLOURS[params["colours"]])

        attempt(f"colours={params['colours'][:20]}", colours)
    if "network" in params or "flow" in params:

        def flow() -> View:
            kind = params.get("network", view.network.kind)
            if kind == AUTHORS or kind not in ("gocor", "correlation"):
                raise InputError("network must be gocor or correlation (this project's networks)")
            choice = NetworkChoice(kind) if kind != view.network.kind else view.network
            return dataclasses.replace(
                view, network=choice, flow_open=params.get("flow", "") == "open"
            )

        attempt("the flow view", flow)
    if "matches" in params or "measure" in params or "hide" in params:

        def confidence() -> View:
            current = view.confidence
            matches = params.get("matches", _key_of(MATCHES, current.volume))
            measure = params.get("measure", _key_of(MEASURES, current.measure))
            if matches not in MATCHES or measure not in MEASURES:
                raise InputError(
                    f"matches must be {' or '.join(MATCHES)}, measure one of {', '.join(MEASURES)}"
                )
            hidden = _number(params.get("hide", str(current.hidden)), "hide")
            if hidden != int(hidden):
                raise InputError("hide must be a whole number of %")
            choice = ConfidenceChoice(MATCHES[matches], MEASURES[measure], int(hidden))
            return dataclasses.replace(view, confidence=choice)

        attempt("the confidence view", confidence)
    return view, problems
