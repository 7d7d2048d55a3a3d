# SPDX-License-Identifier: MIT
"""What each user action does, without Gradio: a :class:`View` (the session's state) and the
action's arguments in, a :class:`Screen` (named pictures and texts, ``None`` = unchanged) out.

:mod:`explorer.app` only lays out components and wires their events to these functions.
A user's mistake (a corrupt file, settings that do not fit the weights) comes back as a message
in ``Screen.status`` with the previous view kept; so does an unexpected error (logged), so that
the page never shows a stack trace and the session keeps working.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np

from explorer import render
from explorer.pipeline import (
    FLOW_ESTIMATORS,
    FLOW_VARIANTS,
    GOCOR_PARAMETERS,
    Computed,
    FlowChoice,
    FlowComputed,
    InputError,
    Pipeline,
    Probe,
    Progress,
    Settings,
    pair_from_files,
    read_user_image,
    synthetic_pair,
)
from gocor_lite.data.examples import example_names
from gocor_lite.images import resize_to_fit

log = logging.getLogger(__name__)
Params = ParamSpec("Params")
Shown = TypeVar("Shown")


@dataclass(frozen=True)
class View:
    """One session's state: which pair, which settings, which pixel, how to show it."""

    pair_id: str
    settings: Settings
    pixel: tuple[float, float]  # target pixel at the working resolution
    iteration: int  # the GOCor iteration shown in the four panels
    colour_scale: str = render.COLOUR_SCALES[0]
    flow: FlowChoice = field(default_factory=FlowChoice)  # the flow view's variant, estimator


@dataclass(frozen=True)
class Screen:
    """What to show after an action. ``None`` fields keep what is on the page."""

    view: View
    status: str  # markdown: the pair, the clicked cell, notes or an error message
    target: np.ndarray | None = None
    source: np.ndarray | None = None
    local_correlation: np.ndarray | None = None
    global_correlation: np.ndarray | None = None
    gocor_global: np.ndarray | None = None
    gocor_local: np.ndarray | None = None
    strip: np.ndarray | None = None
    table: str | None = None  # markdown table of best matches and errors
    colour_bar: np.ndarray | None = None
    losses: np.ndarray | None = None
    functions: np.ndarray | None = None
    num_iter: int | None = None  # the iteration control's new maximum (after a recompute)


@dataclass(frozen=True)
class FlowScreen:
    """What the flow view shows after an action. ``None`` fields keep what is on the page."""

    view: View
    flow_status: str  # markdown: pair, choices, average error, time, notes or an error message
    flow: np.ndarray | None = None
    flow_legend: np.ndarray | None = None
    warped: np.ndarray | None = None
    flow_error: np.ndarray | None = None
    flow_levels: np.ndarray | None = None


def _guard(
    empty: Callable[[View, str], Shown],
) -> Callable[[Callable[Params, Shown]], Callable[Params, Shown]]:
    """A decorator that turns any error of an action into a message on an unchanged screen,
    ``empty(view, message)``. The action's first argument after ``self`` must be the current
    view (or ``None``)."""

    def decorate(action: Callable[Params, Shown]) -> Callable[Params, Shown]:
        @wraps(action)
        def wrapper(*args: Any, **kwargs: Any) -> Shown:
            try:
                return action(*args, **kwargs)
            except InputError as error:
                message = str(error)
            except Exception as error:  # the page must never show a stack trace
                log.exception("unexpected error in %s", action.__name__)
                message = (
                    f"Something went wrong ({type(error).__name__}: {error}). Please try again."
                )
            explorer, view = args[0], args[1] if len(args) > 1 else kwargs.get("view")
            assert isinstance(explorer, Explorer)
            return empty(
                view if isinstance(view, View) else explorer.initial_view(), _warning(message)
            )

        return wrapper

    return decorate


guarded = _guard(lambda view, message: Screen(view, message))
flow_guarded = _guard(lambda view, message: FlowScreen(view, message))


class Explorer:
    """The actions of the app on one shared :class:`Pipeline`."""

    def __init__(self, pipeline: Pipeline | None = None, settings: Settings | None = None):
        self.pipeline = pipeline or Pipeline()
        self.settings = settings or Settings()  # of the first screen and of new sessions
        self._plots: dict[tuple[str, Settings], render.Plots] = {}

    # -- the start ------------------------------------------------------------------------------
    def initial_view(self) -> View:
        """The first screen: the first bundled pair, default settings, a pixel in the middle."""
        settings = self.settings
        pair_id = self.pipeline.example_pair(example_names()[0])
        computed = self.pipeline.compute(pair_id, settings)
        height, width = computed.pair.target.shape[:2]
        return View(pair_id, settings, (width * 0.55, height * 0.45), settings.num_iter)

    def start(self) -> Screen:
        return self.show(self.initial_view())

    # -- showing ----------------------------------------------------------------------------------
    def show(self, view: View, progress: Progress | None = None, message: str = "") -> Screen:
        """Everything for a view: recomputes only when the pair or the settings are new."""
        computed = self.pipeline.compute(view.pair_id, view.settings, progress)
        probe = self.pipeline.probe(computed, view.pixel, view.iteration)
        key = (view.pair_id, view.settings)
        if key not in self._plots:
            self._plots = {key: render.plots(computed)}  # they change only on recomputation
        plots = self._plots[key]
        return dataclasses.replace(
            self._slice(view, computed, probe, message),
            source=render.source_picture(computed, probe),
            colour_bar=render.colour_bar(view.colour_scale),
            losses=plots.losses,
            functions=plots.functions,
            num_iter=computed.num_iter,
        )

    def _slice(self, view: View, computed: Computed, probe: Probe, message: str = "") -> Screen:
        """What a click changes: the marker, the four panels, the strip, the table."""
        scale = view.colour_scale
        return Screen(
            view=view,
            status=_status(computed, probe, message),
            target=render.target_picture(computed, probe),
            source=render.source_picture(computed, probe),
            local_correlation=render.panel(computed, probe, probe.local_correlation, scale),
            global_correlation=render.panel(computed, probe, probe.global_correlation, scale),
            gocor_global=render.panel(computed, probe, probe.gocor_global, scale),
            gocor_local=render.panel(computed, probe, probe.gocor_local, scale),
            strip=render.strip(computed, probe, scale),
            table=_table(probe),
        )

    def _reslice(self, view: View, message: str = "") -> Screen:
        computed = self.pipeline.compute(view.pair_id, view.settings)
        probe = self.pipeline.probe(computed, view.pixel, view.iteration)
        return self._slice(view, computed, probe, message)

    # -- actions ----------------------------------------------------------------------------------
    @guarded
    def click(self, view: View | None, x: float, y: float) -> Screen:
        """A click at target pixel ``(x, y)`` at the working resolution (the API's call)."""
        return self._click(view, x, y, 1)

    @guarded
    def click_displayed(self, view: View | None, x: float, y: float) -> Screen:
        """A click at ``(x, y)`` on the displayed target picture (enlarged by
        :func:`~explorer.render.display_scale`), as the image's select event gives it."""
        view = view or self.initial_view()
        computed = self.pipeline.compute(view.pair_id, view.settings)
        return self._click(view, x, y, render.display_scale(computed.pair.target))

    def _click(self, view: View | None, x: float, y: float, display_scale: int) -> Screen:
        view = view or self.initial_view()
        computed = self.pipeline.compute(view.pair_id, view.settings)
        height, width = computed.pair.target.shape[:2]
        if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
            return Screen(view, _warning("the click has no position; click on the target image"))
        pixel = (float(x) // display_scale, float(y) // display_scale)
        if not (0 <= pixel[0] < width and 0 <= pixel[1] < height):
            return Screen(
                view,
                _warning(
                    f"({x:g}, {y:g}) is outside the target image ({width}×{height} px at the "
                    "working resolution); click inside it"
                ),
            )
        return self._reslice(dataclasses.replace(view, pixel=pixel))

    @guarded
    def set_iteration(self, view: View | None, iteration: float) -> Screen:
        view = view or self.initial_view()
        return self._reslice(dataclasses.replace(view, iteration=int(iteration)))

    @guarded
    def set_colour_scale(self, view: View | None, colour_scale: str) -> Screen:
        view = view or self.initial_view()
        if colour_scale not in render.COLOUR_SCALES:
            raise InputError(f"colour scale must be one of {render.COLOUR_SCALES}")
        view = dataclasses.replace(view, colour_scale=colour_scale)
        return dataclasses.replace(self._reslice(view), colour_bar=render.colour_bar(colour_scale))

    @guarded
    def choose_example(
        self, view: View | None, name: str, progress: Progress | None = None
    ) -> Screen:
        view = view or self.initial_view()
        return self._new_pair(view, self.pipeline.example_pair(name), progress)

    @guarded
    def upload_pair(
        self,
        view: View | None,
        target_path: str | None,
        source_path: str | None,
        progress: Progress | None = None,
    ) -> Screen:
        view = view or self.initial_view()
        pair_id = self.pipeline.add_pair(pair_from_files(target_path, source_path))
        return self._new_pair(view, pair_id, progress)

    @guarded
    def make_synthetic(
        self,
        view: View | None,
        image_path: str | None,
        seed: float,
        kind: str | None = None,
        progress: Progress | None = None,
    ) -> Screen:
        """A synthetic warp of the uploaded image, or of the current target image (scaled to
        the working resolution first, so that the warp is quick for any image size)."""
        view = view or self.initial_view()
        if image_path:
            image = read_user_image(image_path)
        else:
            image = self.pipeline.pair(view.pair_id).target
        image = resize_to_fit(image, view.settings.working_size)
        if seed is None or not np.isfinite(seed):
            raise InputError("the seed must be a whole number")
        pair = synthetic_pair(image, int(seed), kind or None)
        pair_id = self.pipeline.add_pair(pair)
        return self._new_pair(view, pair_id, progress)

    @guarded
    def apply_settings(
        self, view: View | None, changes: Mapping[str, Any], progress: Progress | None = None
    ) -> Screen:
        """New settings: ``changes`` maps :class:`Settings` field names to the controls' values."""
        view = view or self.initial_view()
        return self._apply(view, view.settings.updated(changes), progress)

    def _apply(self, view: View, settings: Settings, progress: Progress | None) -> Screen:
        iteration = (
            settings.num_iter
            if view.iteration >= view.settings.num_iter
            else min(view.iteration, settings.num_iter)
        )
        new_view = dataclasses.replace(view, settings=settings, iteration=iteration)
        # Keep the same place in the image when the working resolution changes.
        ratio = settings.working_size / view.settings.working_size
        new_view = dataclasses.replace(
            new_view, pixel=(view.pixel[0] * ratio, view.pixel[1] * ratio)
        )
        return self.show(new_view, progress)

    @guarded
    def use_weights(
        self, view: View | None, path: str | None, progress: Progress | None = None
    ) -> Screen:
        """GOCor's parameters from the authors' checkpoint file (trained), or back to the
        paper's initial parameters when ``path`` is empty."""
        view = view or self.initial_view()
        settings = dataclasses.replace(view.settings, weights=path or None)
        if path:
            self.pipeline.load_weights(path, settings.num_iter, settings.search_radius)
        screen = self._apply(view, settings, progress)
        message = (
            "GOCor now uses the parameters from the checkpoint file."
            if path
            else f"No checkpoint file: GOCor uses {_parameters_in_use(settings)}."
        )
        return dataclasses.replace(screen, status=f"{message}\n\n{screen.status}")

    @guarded
    def use_feature_weights(
        self, view: View | None, path: str | None, progress: Progress | None = None
    ) -> Screen:
        """The selected extractor's weights from a file (VGG-16, a GLU-Net-GOCor checkpoint's
        pyramid, the learned CNN), or its default when ``path`` is empty."""
        view = view or self.initial_view()
        if not path:
            raise InputError("choose a weights file first")
        settings = dataclasses.replace(view.settings, feature_weights=path)
        return self._apply(view, settings, progress)

    @guarded
    def reset_weights(self, view: View | None, progress: Progress | None = None) -> Screen:
        """No weights files: the features' defaults and GOCor's initial parameters."""
        view = view or self.initial_view()
        settings = dataclasses.replace(view.settings, weights=None, feature_weights=None)
        screen = self._apply(view, settings, progress)
        message = f"No weights files: default features, GOCor with {_parameters_in_use(settings)}."
        return dataclasses.replace(screen, status=f"{message}\n\n{screen.status}")

    # -- the flow view --------------------------------------------------------------------------
    @flow_guarded
    def show_flow(self, view: View | None, progress: Progress | None = None) -> FlowScreen:
        """The coarse-to-fine flow of the view's pair, settings and flow choice (cached)."""
        view = view or self.initial_view()
        flow = self.pipeline.compute_flow(view.pair_id, view.settings, view.flow, progress)
        pictures = render.flow_pictures(flow)
        return FlowScreen(
            view=view,
            flow_status=_flow_status(flow),
            flow=pictures.flow,
            flow_legend=pictures.legend,
            warped=pictures.warped,
            flow_error=pictures.error,
            flow_levels=pictures.levels,
        )

    @flow_guarded
    def choose_flow(
        self,
        view: View | None,
        variant: str,
        estimator: str,
        progress: Progress | None = None,
    ) -> FlowScreen:
        """A GOCor variant and an estimator for the flow view, by their labels
        (:data:`~explorer.pipeline.FLOW_VARIANTS`, :data:`~explorer.pipeline.FLOW_ESTIMATORS`)."""
        view = view or self.initial_view()
        if variant not in FLOW_VARIANTS:
            raise InputError(f"the GOCor variant must be one of {list(FLOW_VARIANTS)}")
        if estimator not in FLOW_ESTIMATORS:
            raise InputError(f"the estimator must be one of {list(FLOW_ESTIMATORS)}")
        choice = FlowChoice(FLOW_VARIANTS[variant], FLOW_ESTIMATORS[estimator])
        return self.show_flow(dataclasses.replace(view, flow=choice), progress)

    def _new_pair(self, view: View, pair_id: str, progress: Progress | None) -> Screen:
        computed = self.pipeline.compute(pair_id, view.settings, progress)
        height, width = computed.pair.target.shape[:2]
        return self.show(
            dataclasses.replace(view, pair_id=pair_id, pixel=(width * 0.55, height * 0.45)),
            progress,
        )


def _flow_status(flow: FlowComputed) -> str:
    pair, choice = flow.pair, flow.choice
    height, width = pair.target.shape[:2]
    variant = next(label for label, value in FLOW_VARIANTS.items() if value == choice.variant)
    estimator = next(label for label, value in FLOW_ESTIMATORS.items() if value == choice.estimator)
    lines = [
        f"**{pair.name}** at {width}×{height} px: {variant}, {estimator}, "
        f"{flow.settings.features} features; computed in {flow.seconds:.1f} s.",
    ]
    if flow.mean_error is None:
        lines.append("No ground truth here: the error is not shown.")
    else:
        lines.append(
            f"**Average endpoint error: {flow.mean_error:.2f} px** (over the pixels whose true "
            "match is known)."
        )
    lines.extend(f"Note: {note}." for note in flow.notes)
    return "\n\n".join(lines)


def _warning(message: str) -> str:
    return f"⚠️ **{message}**"


def _status(computed: Computed, probe: Probe, message: str = "") -> str:
    pair, settings = computed.pair, computed.settings
    height, width = pair.target.shape[:2]
    grid_h, grid_w = computed.target_grid
    lines = [message] if message else []
    lines.append(f"**{pair.name}**: {pair.description}")
    lines.append(
        f"Target pixel ({probe.pixel[0]:.0f}, {probe.pixel[1]:.0f}) of {width}×{height} → feature "
        f"cell {probe.cell} of {grid_w}×{grid_h} ({computed.stride} px per cell). "
        f"{settings.features} features, {settings.normalization}; computed in "
        f"{computed.seconds:.1f} s."
    )
    if settings.feature_weights:
        lines.append(f"Feature weights: {Path(settings.feature_weights).name}.")
    if computed.settings.weights:
        lines.append(
            "GOCor parameters: from your checkpoint file (with its own initialiser and query "
            "loss: the GOCor variant settings do not apply)."
        )
    elif not any("trained GOCor" in note for note in computed.notes) and (
        computed.settings.gocor_parameters == GOCOR_PARAMETERS[0]
    ):
        lines.append(
            f"GOCor parameters: trained by this project for the {settings.features} features "
            "(`python -m gocor_lite.train`)."
        )
    else:
        lines.append("GOCor parameters: the paper's initial values (untrained).")
    if settings.local_centre == "coarse flow":
        lines.append(
            "Local windows follow the coarse flow: as in GLU-Net, the source features are warped "
            "by the global correlation's best matches before the local correlation, so each "
            "window score is drawn at the source cell it actually reads (▢: the window around "
            "the clicked pixel's own coarse match)."
        )
    if probe.true_match is None:
        lines.append("No ground truth here: errors are not shown.")
    lines.extend(f"Note: {note}." for note in computed.notes)
    return "\n\n".join(lines)


def _parameters_in_use(settings: Settings) -> str:
    """Which GOCor parameters apply without a checkpoint file, in words."""
    if settings.gocor_parameters == GOCOR_PARAMETERS[0]:
        return "this project's trained parameters where it has them (else the paper's initial ones)"
    return "the paper's initial (untrained) parameters"


def _table(probe: Probe) -> str:
    rows = [
        "| method | best match (x, y) px | peak score | error to the true match |",
        "|---|---|---|---|",
    ]
    for item in probe.panels:
        error = "unknown" if item.error is None else f"{item.error:.1f} px"
        rows.append(
            f"| {item.name} | ({item.best[0]:.0f}, {item.best[1]:.0f}) | "
            f"{item.peak:.3f} | {error} |"
        )
    return "\n".join(rows)
