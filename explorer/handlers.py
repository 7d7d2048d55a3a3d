# SPDX-License-Identifier: MIT
"""What each user action does, without Gradio (layer: actions, above the outputs' registry).

A :class:`Session` (one per browser tab or API client) holds the :class:`View` (what the page
should show: pair, settings, pixel, iteration, network view) and, for every output of the page, the
key of what that output shows now. Every action of :class:`Explorer` changes the view and
returns a :class:`Screen`: the outputs to send, named.

**The rule for every output of every event** (applied in one place, :meth:`Explorer._screen`,
to the outputs declared in :mod:`explorer.outputs`): each output has a key, the tuple of
everything its picture or text is drawn from (the pair, the settings, the clicked cell, the
iteration, the colour scale...). After an action, an output is

* **kept** (:data:`KEEP`, nothing sent) when its key equals the key of what it shows;
* **drawn** when its key changed and what it is drawn from is in memory;
* **cleared** (``None``) when its key changed and what it is drawn from is still to be computed;
  :meth:`Explorer.fulfil` computes it and draws it.

So no output ever shows a picture of another pair or other settings, and a click sends only
what it changes. Controls are outputs too: the event's own control values say what the browser
shows, so a refused setting is sent back to the value in use.

Actions are cheap (they never compute volumes; reading a weights file or an upload is the most
they do): they check what the user asked for (and refuse with a message in the page's words,
changing nothing else), update the view and ask for a computation when one is needed
(``Screen.compute``). :meth:`Explorer.fulfil` then computes, for the session's *current* view:
an action made meanwhile (a click, another setting) is applied when it finishes, and a
computation that another request of the same session superseded gives up at its next step.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial, wraps
from pathlib import Path
from typing import Any, Concatenate, ParamSpec

import numpy as np

from explorer import export_files, link, outputs, render, rules_render
from explorer.export_files import Exports
from explorer.network_compute import (
    AUTHORS,
    NETWORKS,
    NetworkChoice,
    NetworkViews,
)
from explorer.outputs import OUTPUTS, Frame, Screen, escape, warning
from explorer.pipeline import (
    GOCOR_PARAMETERS,
    MAX_SEED,
    Computed,
    InputError,
    Pipeline,
    Probe,
    Progress,
    Settings,
    Superseded,
    WeightsNeeded,
    WorkingPair,
    pair_from_files,
    read_user_image,
    synthetic_pair,
    whole_number,
)
from explorer.rules_render import ConfidenceChoice
from explorer.state import CLEARED, KEEP, IterationControl, Session, View, control_key
from gocor_lite.data.examples import example_names

log = logging.getLogger(__name__)
Params = ParamSpec("Params")

ACTIVE_SECONDS = 60.0  # a session that acted this recently shares the cores (Explorer.threads_for)


def action(
    method: Callable[Concatenate[Explorer, Session, Params], Screen],
) -> Callable[Concatenate[Explorer, Session, Params], Screen]:
    """An action of the page: runs under the session's lock; an :class:`InputError` becomes a
    refusal (the message, the controls sent back to the values in use, nothing else changed),
    any other error is logged and said in plain words, never as a stack trace."""

    @wraps(method)
    def run(explorer: Explorer, session: Session, *args: Params.args, **kwargs: Params.kwargs):
        explorer.seen(session)
        with session.lock:
            try:
                return method(explorer, session, *args, **kwargs)
            except InputError as error:
                return explorer.refuse(session, str(error))
            except Exception:  # the page must never show a stack trace
                log.exception("unexpected error in %s", method.__name__)
                return explorer.refuse(
                    session,
                    "something went wrong on the server (the error is in its log); the page "
                    "shows the last settings that worked",
                )

    return run


class Explorer:
    """The actions of the app on one shared :class:`Pipeline`."""

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        settings: Settings | None = None,
        networks: NetworkViews | None = None,
        exports: Exports | None = None,
    ):
        self.pipeline = pipeline or Pipeline()
        self.networks = networks or NetworkViews(self.pipeline)  # the network view's
        self.settings = settings or Settings()  # of the first screen and of new sessions
        self.exports = exports or Exports()  # writes the files offered for download
        self._plots: list[tuple[Computed, render.Plots]] = []  # the last few results' plots
        self._plots_lock = threading.Lock()
        self._first: tuple[View, dict[str, Hashable]] | None = None
        self._seen: dict[int, float] = {}  # id of a session -> when it last acted
        self._seen_lock = threading.Lock()

    # -- sharing the cores ------------------------------------------------------------------------
    def seen(self, session: Session) -> None:
        """A session acted now (a computation for another session then leaves it a core)."""
        now = time.monotonic()
        with self._seen_lock:
            self._seen[id(session)] = now
            for known, when in list(self._seen.items()):
                if now - when > 10 * ACTIVE_SECONDS:
                    del self._seen[known]

    def threads_for(self, session: Session) -> int:
        """Torch threads for a computation of ``session``: the pipeline's (both cores) while no
        other session acted in the last :data:`ACTIVE_SECONDS`, else one, so that the others'
        clicks keep a core (every computation runs on a thread of lower priority too)."""
        now = time.monotonic()
        with self._seen_lock:
            others = any(
                known != id(session) and now - when < ACTIVE_SECONDS
                for known, when in self._seen.items()
            )
        return 1 if others else self.pipeline.threads

    # -- sessions -------------------------------------------------------------------------------
    def initial_view(self) -> View:
        """The first screen: the first bundled pair (a real one where its package is
        installed), default settings, and the pixel nearest the middle where global GOCor is
        right and global correlation wrong (the whole-image numbers beside it say how often);
        a pixel a little off the middle where there is none."""
        settings = self.settings
        pair_id = self.pipeline.example_pair(example_names()[0])
        view = View(pair_id, settings, (0.0, 0.0), settings.num_iter)
        pixel = self.pipeline.telling_pixel(pair_id, settings)
        return dataclasses.replace(view, pixel=pixel or self._start_pixel(view))

    def start(self, compute: bool = True) -> Screen:
        """Everything of the first screen, drawn (its volumes are computed here, once; with
        ``compute=False`` only the pair is drawn and each page that opens asks for the rest:
        :meth:`compute_first` computes it meanwhile, after the server is up)."""
        view = self.initial_view()
        if compute:
            self.pipeline.compute(view.pair_id, view.settings)
        session = Session(view)
        screen = self._screen(session, view)
        self._first = (view, dict(session.shown))
        return screen

    def compute_first(self) -> None:
        """Compute the first screen's volumes (a page that opened meanwhile waits for them)."""
        view = self._first[0] if self._first else self.initial_view()
        try:
            self.pipeline.compute(view.pair_id, view.settings)
        except Exception:  # a page asking for it computes it again and says why it failed
            log.exception("the first pair could not be computed")

    def new_session(self) -> Session:
        """A session for a new page or client. What its page shows is not known yet (every
        output counts as unknown and is sent on its first event) until :meth:`opened` says
        that it shows the first screen."""
        view = self._first[0] if self._first else self.initial_view()
        return Session(view)

    def opened(self, session: Session) -> Screen:
        """A page has loaded: it shows the first screen (the layout's initial values)."""
        with session.lock:
            if self._first is not None and session.view == self._first[0]:
                session.shown = dict(self._first[1])
            # What differs from the first screen: nothing, unless the server started before
            # its pair was computed (then its maps, or a request to compute them, with progress).
            return self._screen(session, session.view)

    @action
    def redraw(self, session: Session) -> Screen:
        """Everything the session's view shows, drawn again (what its page shows is forgotten)."""
        session.shown = {}
        return self._screen(session, session.view)

    @action
    def current(self, session: Session) -> Screen:
        """The session's view as it is (what changed since its page was drawn, if anything;
        a computation asked for if one is missing)."""
        return self._screen(session, session.view)

    # -- data for the API (read from what is computed; never computes) --------------------------
    def score_map_names(self, session: Session) -> list[str]:
        """The names of the maps of the session's score-maps file, in its order."""
        computed = self.pipeline.cached(session.view.pair_id, session.view.settings)
        return [] if computed is None else export_files.score_map_names(computed)

    def whole_image_scores(self, session: Session) -> dict[str, Any]:
        """Every method's whole-image accuracy on the session's pair (as the page's table) as
        plain data: ``{"pair", "ground_truth", "iteration", "stride", "methods": {name:
        {"within_cell", "accepted", "precision", "aepe", "count"}}}`` (percentages, pixels;
        ``None`` where a number does not exist, e.g. no match accepted)."""
        view = session.view
        computed = self.pipeline.cached(view.pair_id, view.settings)
        answer: dict[str, Any] = {"pair": self.pipeline.pair(view.pair_id).name}
        if computed is None:
            return {**answer, "ground_truth": None, "methods": {}}
        scores = rules_render.whole_image_scores(computed, view.iteration)
        return {
            **answer,
            "ground_truth": bool(scores),
            "iteration": min(view.iteration, computed.num_iter),
            "stride": computed.stride,
            "methods": {
                name: {
                    key: None if isinstance(value, float) and not np.isfinite(value) else value
                    for key, value in dataclasses.asdict(score).items()
                }
                for name, score in scores.items()
            },
        }

    # -- the click and the view controls (never a computation) ---------------------------------
    @action
    def click(self, session: Session, x: float | None, y: float | None) -> Screen:
        """A click at target pixel ``(x, y)`` at the working resolution (the API's call)."""
        return self._click(session, x, y, 1)

    @action
    def click_displayed(self, session: Session, x: float | None, y: float | None) -> Screen:
        """A click at ``(x, y)`` on the displayed target picture (enlarged by
        :func:`~explorer.render.display_scale`), as the image's select event gives it."""
        working = self._working(session.view)
        return self._click(session, x, y, render.display_scale(working.pair.target))

    def _click(self, session: Session, x: Any, y: Any, display_scale: int) -> Screen:
        view = session.view
        working = self._working(view)
        height, width = working.pair.target.shape[:2]
        if not all(_is_number(value) and np.isfinite(value) for value in (x, y)):
            raise InputError("the click has no position; click on the target image")
        pixel = (float(x) // display_scale, float(y) // display_scale)
        if not (0 <= pixel[0] < width and 0 <= pixel[1] < height):
            raise InputError(
                f"({x:g}, {y:g}) is outside the target image ({width}×{height} px at the "
                "working resolution); click inside it"
            )
        return self._screen(session, dataclasses.replace(view, pixel=pixel))

    @action
    def set_iteration(self, session: Session, iteration: Any) -> Screen:
        view = session.view
        shown = IterationControl(max(view.settings.num_iter, 1), iteration, True)
        session.shown["iteration"] = shown if _is_number(iteration) else ("unknown",)
        value = whole_number(iteration, "the GOCor iteration shown", 0, view.settings.num_iter)
        return self._screen(session, dataclasses.replace(view, iteration=value))

    @action
    def set_colour_scale(self, session: Session, colour_scale: str) -> Screen:
        session.shown["colour_scale"] = ("browser", colour_scale)
        if colour_scale not in render.COLOUR_SCALES:
            raise InputError(f"the colour scale must be one of {', '.join(render.COLOUR_SCALES)}")
        return self._screen(session, dataclasses.replace(session.view, colour_scale=colour_scale))

    @action
    def set_confidence(self, session: Session, volume: Any, measure: Any, hidden: Any) -> Screen:
        """The confidence view: whose matches, which measure, the % of them to hide."""
        session.shown["confidence_choice"] = ("browser", volume, measure, hidden)
        value = whole_number(hidden, "the share of matches to hide", 0, rules_render.MAX_HIDDEN)
        choice = ConfidenceChoice(volume, measure, value)
        return self._screen(session, dataclasses.replace(session.view, confidence=choice))

    # -- export and links -----------------------------------------------------------------------
    @action
    def export_pictures(self, session: Session) -> Screen:
        """Every picture of the view as PNG, in one zip (drawn again: the page has JPEGs)."""
        view = session.view
        if self.pipeline.cached(view.pair_id, view.settings) is None:
            raise InputError(
                "the maps of this view are still being computed: ask for the pictures when "
                "they are shown"
            )
        everything = self._screen(Session(view), view, request=False, reach=frozenset(OUTPUTS))
        pictures = {
            name: value
            for name in outputs.names("picture")
            if isinstance(value := getattr(everything, name), np.ndarray)
        }
        path = self.exports.pictures(pictures, self.label(view))
        return self._screen(session, view, pictures_file=path)

    @action
    def open_link(self, session: Session, params: Mapping[str, str]) -> Screen:
        """A page opened with a link (:mod:`explorer.link`): the view it names; the parts of
        it that cannot be used are said, and keep the first screen's values."""
        self.opened(session)  # the page shows the first screen until this screen arrives
        first = session.view
        query = {key: str(value) for key, value in params.items() if key in link.QUERY_KEYS}
        view, problems = link.view_from_query(query, first, self.pipeline)
        if "x" not in query and "y" not in query:
            if view.pair_id != first.pair_id:
                view = dataclasses.replace(view, pixel=self._start_pixel(view))
            else:
                ratio = view.settings.working_size / first.settings.working_size
                view = dataclasses.replace(
                    view, pixel=(first.pixel[0] * ratio, first.pixel[1] * ratio)
                )
        message = ""
        if problems:
            message = warning("parts of this link were not used: " + "; ".join(problems))
        return self._screen(session, view, message)

    # -- new pairs ------------------------------------------------------------------------------
    @action
    def choose_example(self, session: Session, name: Any) -> Screen:
        """A bundled pair, by name. The page offers two controls for it (a gallery and radio
        buttons): the one used shows the choice, the other not yet, so both are sent."""
        session.shown["example"] = ("unknown",)
        return self._new_pair(session, self.pipeline.example_pair(name))

    @action
    def upload_pair(
        self, session: Session, target_path: str | None, source_path: str | None
    ) -> Screen:
        pair_id = self.pipeline.add_pair(pair_from_files(target_path, source_path))
        return self._new_pair(session, pair_id)

    @action
    def make_synthetic(
        self, session: Session, image_path: str | None, seed: Any, kind: str | None = None
    ) -> Screen:
        """A synthetic warp of the uploaded image, or of the current target image (warped at
        most as large as any working resolution: :func:`~explorer.pipeline.synthetic_pair`)."""
        view = session.view
        whole_number(seed, "the random seed", 0, MAX_SEED)  # before reading any file
        if image_path:
            image = read_user_image(image_path, "image to warp")
        else:
            image = self.pipeline.pair(view.pair_id).target
        pair_id = self.pipeline.add_pair(synthetic_pair(image, seed, kind or None))
        return self._new_pair(session, pair_id)

    def _new_pair(self, session: Session, pair_id: str) -> Screen:
        view = session.view
        self.pipeline.prepare(pair_id, view.settings)
        new = dataclasses.replace(view, pair_id=pair_id)
        return self._screen(session, dataclasses.replace(new, pixel=self._start_pixel(new)))

    def _start_pixel(self, view: View) -> tuple[float, float]:
        """The pixel selected when a pair is shown: a little right of and above the middle."""
        height, width = self._working(view).pair.target.shape[:2]
        return (width * 0.55, height * 0.45)

    # -- settings and weights files -------------------------------------------------------------
    @action
    def apply_settings(
        self,
        session: Session,
        changes: Mapping[str, Any],
        weights_path: str | None = None,
    ) -> Screen:
        """New settings: ``changes`` maps :class:`Settings` field names to the controls' values.
        Other features drop the previous features' weights file; features that need one take
        ``weights_path`` (the file given on the page), if any."""
        view = session.view
        session.shown["settings"] = control_key(changes)  # what the browser shows now
        settings = view.settings.updated(changes)
        if settings.features != view.settings.features:
            settings = dataclasses.replace(settings, feature_weights=None)
            try:
                self.pipeline.prepare(view.pair_id, settings)
            except WeightsNeeded:
                if not weights_path:
                    raise
                settings = dataclasses.replace(settings, feature_weights=weights_path)
        return self._apply(session, settings)

    @action
    def use_weights(self, session: Session, path: str | None) -> Screen:
        """GOCor's parameters from the authors' checkpoint file (trained), or no checkpoint
        when ``path`` is empty."""
        settings = dataclasses.replace(session.view.settings, weights=path or None)
        name = escape(Path(path).name) if path else ""
        message = (
            f"GOCor now uses the parameters of the checkpoint {name}."
            if path
            else f"No checkpoint file: GOCor uses {_parameters_in_use(settings)}."
        )
        return self._apply(session, settings, message)

    @action
    def use_feature_weights(self, session: Session, path: str | None) -> Screen:
        """The selected extractor's weights from a file (VGG-16, a GLU-Net-GOCor checkpoint's
        pyramid, the learned CNN)."""
        if not path:
            raise InputError("choose a weights file first (“weights file”, under Settings)")
        settings = dataclasses.replace(session.view.settings, feature_weights=path)
        return self._apply(session, settings)

    @action
    def reset_weights(self, session: Session) -> Screen:
        """No weights files: the features' defaults and GOCor without a checkpoint."""
        settings = dataclasses.replace(session.view.settings, weights=None, feature_weights=None)
        if self._needs_file(session.view.pair_id, settings):
            settings = dataclasses.replace(settings, features=Settings().features)
        message = (
            f"No weights files: {settings.features} features with their own weights, GOCor "
            f"with {_parameters_in_use(settings)}."
        )
        return self._apply(session, settings, message)

    def _needs_file(self, pair_id: str, settings: Settings) -> bool:
        try:
            self.pipeline.working_pair(pair_id, settings)
        except WeightsNeeded:
            return True
        return False

    def _apply(self, session: Session, settings: Settings, message: str = "") -> Screen:
        view = session.view
        self.pipeline.prepare(view.pair_id, settings)  # refuses what cannot apply, up front
        iteration = (
            settings.num_iter
            if view.iteration >= view.settings.num_iter
            else min(view.iteration, settings.num_iter)
        )
        # Keep the same place in the image when the working resolution changes.
        ratio = settings.working_size / view.settings.working_size
        new = dataclasses.replace(
            view,
            settings=settings,
            iteration=iteration,
            pixel=(view.pixel[0] * ratio, view.pixel[1] * ratio),
        )
        return self._screen(session, new, message)

    # -- the network view ------------------------------------------------------------------------
    @action
    def open_flow(self, session: Session) -> Screen:
        session.shown["flow_section"] = ("browser", True)  # opened in the browser (or an API)
        return self._screen(session, dataclasses.replace(session.view, flow_open=True))

    @action
    def close_flow(self, session: Session) -> Screen:
        session.shown["flow_section"] = ("browser", False)
        return self._screen(session, dataclasses.replace(session.view, flow_open=False))

    @action
    def choose_network(
        self, session: Session, label: Any, weights_path: str | None = None
    ) -> Screen:
        """A network for the network view, by its label
        (:data:`~explorer.network_compute.NETWORKS`); the authors' takes ``weights_path``, the
        file the page holds. Loaded (and refused with the radio buttons set back) here, traced
        by :meth:`fulfil`."""
        session.shown["network_choice"] = ("browser", label)  # what the radio shows now
        return self._choose_network(session, label, weights_path)

    @action
    def use_network_file(self, session: Session, path: str | None) -> Screen:
        """The authors' weights file, just given: the authors' network with it (the radio
        buttons then show it too; a refused file leaves them as they are)."""
        if not path:
            raise InputError("the weights file is empty: give the authors' GLU-Net weights file")
        return self._choose_network(session, NetworkChoice(AUTHORS, path).label, path)

    def _choose_network(self, session: Session, label: Any, weights_path: str | None) -> Screen:
        view = session.view
        try:
            choice = self._network_choice(label, weights_path)
            self.networks.prepare(view.pair_id, view.settings, choice)  # refuses up front
        except InputError as error:  # said where the user looks too: in the network view
            return self._screen(session, view, str(error), warning=True, flow_warning=str(error))
        message = ""
        if choice.kind == AUTHORS:
            message = f"The network view now runs {escape(self.networks.describe(choice))}."
        return self._screen(
            session, dataclasses.replace(view, network=choice, flow_open=True), message
        )

    @staticmethod
    def _network_choice(label: Any, weights_path: str | None) -> NetworkChoice:
        if label not in NETWORKS:
            raise InputError(f"the network must be one of {', '.join(NETWORKS)}")
        kind = NETWORKS[label]
        if kind == AUTHORS and not weights_path:
            raise InputError(
                "give the authors' weights file first (“the authors' weights file”, in this "
                "section: GLUNet_static.pth or GLUNet_GOCor_static.pth from the GOCor authors' "
                "repository; nothing is downloaded)"
            )
        return NetworkChoice(kind, weights_path if kind == AUTHORS else None)

    # -- the computation ------------------------------------------------------------------------
    def pending(self, session: Session) -> bool:
        """Whether the session's view shows something still to be computed."""
        with session.lock:
            return self._target(session, session.view) is not None

    def fulfil(self, session: Session, progress: Progress | None = None) -> Screen:
        """Compute what the session's current view needs (volumes, and the flow if its section
        is open), then draw every output that waited for it. Gives up (all outputs kept) when a
        newer request of the session asks for something else; a failure restores the last
        view that worked, with the reason."""
        report = progress or (lambda fraction, message: None)
        with session.lock:
            view = session.view
            target = self._target(session, view)
            session.fulfilling = True

        def step(start: float, end: float) -> Progress:
            def forward(fraction: float, message: str) -> None:
                if session.requested is not None and session.requested != target:
                    raise Superseded
                report(start + (end - start) * fraction, message)

            return forward

        threads = self.threads_for(session)

        def compute() -> None:
            if target is None:
                return
            flow_needed = target[1] is not None
            split = 0.6 if flow_needed else 1.0
            self.pipeline.compute(view.pair_id, view.settings, step(0.0, split), threads)
            if flow_needed:
                self._compute_flow(session, view, step(split, 1.0), threads)

        try:
            # Always second in line: clicks that come while it runs are served first, even
            # when it started alone with both threads (its threads inherit the priority).
            _SHARED.submit(contextvars.copy_context().run, compute).result()
        except Superseded:
            with session.lock:
                session.fulfilling = False
            return Screen(session.view, KEEP)  # type: ignore[arg-type]
        except Exception as error:  # the page must never show a stack trace
            return self._failed(session, view, error)
        with session.lock:
            session.fulfilling = False
            if session.requested == target:
                session.requested = None
            return self._screen(session, session.view)

    def _compute_flow(self, session: Session, view: View, progress: Progress, threads: int) -> None:
        try:
            self.networks.compute(view.pair_id, view.settings, view.network, progress, threads)
        except InputError as error:  # the volumes are fine: only the network view says why
            with session.lock:
                session.refused_flows[self.flow_key(view)] = str(error)

    def _failed(self, session: Session, view: View, error: Exception) -> Screen:
        """After a computation failed: the last view that worked, and the reason."""
        if isinstance(error, InputError):
            reason = str(error)
        else:
            log.exception("unexpected error while computing %s", view)
            reason = "something went wrong on the server (the error is in its log)"
        with session.lock:
            session.fulfilling = False
            session.requested = None
            if session.good == view:  # nothing older to go back to: say so, ask nothing
                return self._screen(session, view, reason, warning=True, request=False)
            return self._screen(
                session,
                session.good,
                f"{reason}; the page shows the last settings that worked",
                warning=True,
            )

    def _target(self, session: Session, view: View) -> Target:
        """What ``view`` needs computed: ``(volumes key or None, flow key or None)``, or
        ``None`` when everything it shows is in memory."""
        pipeline = self.pipeline
        volumes = (
            None
            if pipeline.cached(view.pair_id, view.settings)
            else (
                view.pair_id,
                view.settings,
            )
        )
        flow = None
        flow_key = self.flow_key(view)
        if (
            view.flow_open
            and flow_key not in session.refused_flows
            and self.networks.cached(view.pair_id, view.settings, view.network) is None
        ):
            flow = flow_key
        return None if volumes is None and flow is None else (volumes, flow)

    # -- the rule: keep, draw or clear every output ---------------------------------------------
    def refuse(self, session: Session, message: str) -> Screen:
        """A refusal: the message; every control back to the value in use; nothing else. If
        the view's own pair was dropped from memory, the first screen's pair with the message."""
        with session.lock:
            try:
                return self._screen(session, session.view, message, warning=True)
            except InputError as gone:  # an upload dropped by the pipeline's cap (never stale)
                note = f"{gone} (the page now shows a bundled pair)"
                return self._screen(session, self.initial_view(), note, warning=True)

    def _screen(
        self,
        session: Session,
        view: View,
        message: str = "",
        warning: bool = False,
        request: bool = True,
        flow_warning: str = "",
        pictures_file: str | None = None,
        reach: frozenset[str] | None = None,
    ) -> Screen:
        """The outputs for ``view`` after what the session shows (module docstring: kept, drawn
        or cleared), and ``view`` becomes the session's view. Only the outputs that the event
        being handled reaches are looked at (``reach``, else :func:`explorer.outputs.reach` of
        :data:`explorer.outputs.EVENT`). ``request``: ask for a computation if one is needed
        (``False`` from :meth:`fulfil`, which just did); ``pictures_file``: the zip of the
        view's pictures just made (else it is cleared as soon as any picture changes)."""
        shown = dict(session.shown)
        given = {"pictures_file": pictures_file} if pictures_file else None
        frame = Frame(self, session, view, shown, flow_warning, given)
        working, computed, probe = frame.working, frame.computed, frame.probe
        if computed is not None:
            session.good = view
        chosen = outputs.reach(outputs.EVENT.get()) if reach is None else reach
        values: dict[str, Any] = {}
        drawings: dict[str, Callable[[], Any]] = {}
        for name, output in OUTPUTS.items():
            if name not in chosen:
                continue  # not sent by this event: its key stays that of what it shows
            ready = frame.ready(output)
            key = output.key(frame) if ready else CLEARED
            if shown.get(name) == key:
                continue
            shown[name] = key
            if ready:
                drawings[name] = partial(output.draw, frame)
            else:
                values[name] = None

        target = self._target(session, view)
        ask = False
        if target is not None and request:
            stale = not session.fulfilling and time.monotonic() - session.requested_at > 30
            if target != session.requested or stale:
                ask = True
                session.generation += 1
                session.requested, session.requested_at = target, time.monotonic()
            if message and not warning:
                session.message = message
        if computed is not None and not warning:
            message = message or session.message
            session.message = ""
        values.update(_draw(drawings))
        status = _status(
            frame.title,
            self.pipeline.pair(view.pair_id).description,
            working,
            computed,
            probe,
            outputs.warning(message) if warning else message,
        )
        session.view, session.shown = view, shown
        return Screen(
            view=view,
            status=status,
            label=frame.label,
            compute=ask,
            warning=warning,
            **values,
        )

    # -- helpers ----------------------------------------------------------------------------------
    def _working(self, view: View) -> WorkingPair:
        return self.pipeline.working_pair(view.pair_id, view.settings)

    def plots(self, computed: Computed) -> render.Plots:
        """The two plots of a result (they change only with it; the last few are kept)."""
        with self._plots_lock:
            for known, plots in self._plots:
                if known is computed:
                    return plots
        plots = render.plots(computed)
        with self._plots_lock:
            self._plots.insert(0, (computed, plots))
            del self._plots[8:]
        return plots

    def flow_key(self, view: View) -> Hashable:
        """What the network view shows (its result's key), or that its section is closed."""
        if not view.flow_open:
            return ("closed",)
        return (view.pair_id, self.networks.key(view.pair_id, view.settings, view.network))

    def title(self, view: View) -> str:
        return escape(self.pipeline.pair(view.pair_id).name)

    def label(self, view: View) -> str:
        """The pair as a file-name-safe word: the example's name, or kind and content digest."""
        if view.pair_id.startswith("example:"):
            return view.pair_id.removeprefix("example:")
        kind, content, _ = view.pair_id.split(":")
        return f"{kind}-{content[:8]}"


# What a view needs computed: (pair id and settings of its volumes, key of its flow), each None
# when in memory; None when nothing is needed.
Target = tuple[Hashable, Hashable] | None


_DRAWERS = ThreadPoolExecutor(max_workers=3, thread_name_prefix="draw")  # Pillow frees the GIL


def _second_in_line() -> None:
    """Give this thread a lower priority than the server's others (Linux schedules threads
    one by one): a computation on it uses what the others' clicks leave of a core."""
    with contextlib.suppress(AttributeError, OSError):  # else (not Linux): the same priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


# Every computation runs here, second in line: after the clicks of any session.
_SHARED = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="compute-shared", initializer=_second_in_line
)


def _draw(drawings: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """Every drawing made, several at a time (a click's seven pictures in about the time of
    the largest two); the biggest first."""
    if len(drawings) <= 1:
        return {name: draw() for name, draw in drawings.items()}
    order = sorted(drawings, key=lambda name: name != "strip")  # the strip takes longest
    futures = {name: _DRAWERS.submit(drawings[name]) for name in order}
    return {name: future.result() for name, future in futures.items()}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _status(
    title: str,
    description: str,
    working: WorkingPair,
    computed: Computed | None,
    probe: Probe | None,
    message: str = "",
) -> str:
    """The status under the images: the message, the pair, the clicked cell, the settings."""
    lines = [message] if message else []
    lines.append(f"**{title}**: {escape(description)}")
    if computed is None or probe is None:
        lines.append(
            "Computing the volumes and GOCor's iterations for these settings… the maps follow "
            "(a click meanwhile is shown when they are ready)."
        )
        lines.extend(f"Note: {note}." for note in working.notes)
        return "\n\n".join(lines)
    settings = computed.settings
    height, width = computed.pair.target.shape[:2]
    grid_h, grid_w = computed.target_grid
    lines.append(
        f"Target pixel ({probe.pixel[0]:.0f}, {probe.pixel[1]:.0f}) of {width}×{height} → feature "
        f"cell {probe.cell} of {grid_w}×{grid_h} ({computed.stride} px per cell). "
        f"{settings.features} features, {settings.normalization}; computed in "
        f"{computed.seconds:.1f} s."
    )
    if settings.feature_weights:
        lines.append(f"Feature weights: {escape(Path(settings.feature_weights).name)}.")
    if settings.weights:
        lines.append(
            f"GOCor parameters: from your checkpoint {escape(Path(settings.weights).name)} "
            "(with its own initialiser and query loss: the GOCor variant settings do not apply)."
        )
    elif not any("trained GOCor" in note for note in computed.notes) and (
        settings.gocor_parameters == GOCOR_PARAMETERS[0]
    ):
        lines.append(
            f"GOCor parameters: trained by this project for the {settings.features} features "
            "(`python -m gocor_lite.cli.train`)."
        )
    elif settings.gocor_parameters == GOCOR_PARAMETERS[0]:  # asked for, none for this variant
        lines.append(
            f"GOCor parameters: the paper's initial values (untrained): “{GOCOR_PARAMETERS[0]}” "
            "has none for these features and this GOCor variant (see the note below)."
        )
    else:
        lines.append("GOCor parameters: the paper's initial values (untrained).")
    if settings.local_centre == "coarse flow":
        lines.append(
            "Local windows follow the coarse flow: as in GLU-Net, the source features are warped "
            "by the global correlation's best matches before the local correlation, so each "
            "window score is drawn at the source cell it actually reads (⬚: the window around "
            "the clicked pixel's own coarse match)."
        )
    if probe.true_match is None:
        lines.append(
            "No ground truth for this pair: errors are not shown."
            if computed.pair.flow is None
            else "This pixel's true match is unknown (it falls outside the source image, or "
            "the pair's ground truth does not cover it): its errors are not shown."
        )
    lines.extend(f"Note: {note}." for note in computed.notes)
    return "\n\n".join(lines)


def _parameters_in_use(settings: Settings) -> str:
    """Which GOCor parameters apply without a checkpoint file, in words."""
    if settings.gocor_parameters == GOCOR_PARAMETERS[0]:
        return "this project's trained parameters where it has them (else the paper's initial ones)"
    return "the paper's initial (untrained) parameters"
