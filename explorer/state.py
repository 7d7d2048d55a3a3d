# SPDX-License-Identifier: MIT
"""One session's state (layer: state; no Gradio, no drawing): the :class:`View` (what the page
should show: pair, settings, pixel, iteration, network view, confidence view) and the
:class:`Session` that holds it with, for every output of the page, the key of what it shows.

What each output's key is, and how it is drawn, is declared in :mod:`explorer.outputs`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from explorer import render
from explorer.network_compute import NetworkChoice
from explorer.pipeline import Settings
from explorer.rules_render import ConfidenceChoice

# The settings the page has a control for, in the order of the setting controls.
SETTING_CONTROLS: tuple[str, ...] = (
    "features",
    "normalization",
    "working_size",
    "search_radius",
    "num_iter",
    "initializer",
    "gocor_parameters",
    "query_loss",
    "local_centre",
)


class _Keep:
    """The type of :data:`KEEP`."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()  # a screen's output that is left as it is
CLEARED = ("cleared",)  # the key of an empty output
UNKNOWN = ("unknown",)  # the key of an output whose content the server does not know


@dataclass(frozen=True)
class View:
    """One session's state: which pair, which settings, which pixel, how to show it."""

    pair_id: str
    settings: Settings
    pixel: tuple[float, float]  # target pixel at the working resolution
    iteration: int  # the GOCor iteration shown in the four panels
    colour_scale: str = render.COLOUR_SCALES[0]
    network: NetworkChoice = field(default_factory=NetworkChoice)  # the network view's network
    flow_open: bool = False  # whether the network view's section is open
    confidence: ConfidenceChoice = field(default_factory=ConfidenceChoice)  # the confidence view


@dataclass(frozen=True)
class IterationControl:
    """The iteration slider: its range ``0..maximum`` and value."""

    maximum: int
    value: int
    interactive: bool


class Session:
    """One browser tab's (or API client's) state on the server, shared by all its events."""

    def __init__(self, view: View, shown: Mapping[str, Hashable] | None = None):
        self.lock = threading.RLock()  # one action of this session at a time changes it
        self.view = view  # what the page should show
        self.good = view  # the last view whose computation succeeded (restored on failure)
        self.shown: dict[str, Hashable] = dict(shown or {})  # output -> key of what it shows
        self.generation = 0  # counts requests for a computation (the page's ticket to fulfil)
        self.requested: Hashable = None  # what the last request asked to compute
        self.requested_at = 0.0  # when (time.monotonic())
        self.fulfilling = False  # whether a computation for this session is running
        self.message = ""  # said again in the status when the computation asked for is done
        self.refused_flows: dict[Hashable, str] = {}  # flows that failed, and why: not retried

    def forget(self, names: set[str]) -> None:
        """These outputs were not sent: what they show is unknown (a later event sends them)."""
        if names:
            with self.lock:
                for name in names:
                    self.shown[name] = UNKNOWN

    def __deepcopy__(self, memo: dict[int, Any]) -> Session:
        """A new session showing the same (Gradio copies a State's initial value)."""
        fresh = Session(self.view, copy.deepcopy(self.shown, memo))
        fresh.good = self.good
        return fresh


def control_key(values: Mapping[str, Any]) -> Hashable:
    """What the setting controls show, comparable with floats from sliders (``4.0 == 4``)."""
    return ("settings", *(values.get(name) for name in SETTING_CONTROLS))
