# SPDX-License-Identifier: MIT
"""Every output of the page, declared once (layer: outputs, above state, below the actions).

An :class:`Output` says:

* ``name``: how the session, a :class:`Screen` and the page call it;
* ``place``: where the page lays it out (:meth:`explorer.page.Page.place` makes, in order, the
  components of every output of a place);
* ``component``: its Gradio component(s), made from the first screen's value;
* ``needs``: what it is drawn from: ``"pair"`` (the working pair: always in memory),
  ``"volumes"`` (the computed volumes), ``"flow"`` (the network view's flow) or ``"given"``
  (a value the action passes, e.g. the pictures' zip just made); while that is missing the
  output is cleared;
* ``key``: the tuple of everything it is drawn from, a function of the :class:`Frame` (the
  session's view and what is computed for it); an output whose key equals the key of what it
  shows is kept, not drawn;
* ``draw``: the drawing (a picture, a markdown text, a file path or a control's value);
* ``events``: the events that reach it besides the ones that reach every output
  (``"pixel"``: a click on the target; ``"iteration"``, ``"colour_scale"``, ``"confidence"``:
  those controls); an event computes the keys of the outputs it reaches only;
* ``kind`` and ``send``: how the page shows its value (a picture is written as a JPEG file, a
  file becomes a download button, a control gets its value).

:class:`Screen`, the session's ``shown`` keys, the page's components and updates, and every
list of outputs (:data:`PICTURES`, :data:`FILES`, :func:`reach`) are derived from
:data:`OUTPUTS`. Adding a picture is one :func:`register` call here plus its drawing
(explorer/README.md, "Adding a picture").
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from explorer import explanations, link, network_render, render, rules_render
from explorer.analysis import CONFIDENCE_MEASURES, CONFIDENCE_VOLUMES
from explorer.export_files import Exports
from explorer.network_compute import NETWORKS, NetworkChoice, NetworkComputed, NetworkViews
from explorer.network_compute import probe as probe_network
from explorer.pipeline import (
    GOCOR_PARAMETERS,
    LOCAL_CENTRES,
    MAX_ITERATIONS,
    MAX_RADIUS,
    QUERY_LOSS_MAX_SIZE,
    SETTING_LABELS,
    WORKING_SIZES,
    Computed,
    Pipeline,
    Probe,
    Settings,
    WorkingPair,
    arithmetic,
)
from explorer.state import (
    KEEP,
    SETTING_CONTROLS,
    IterationControl,
    Session,
    View,
    control_key,
)
from gocor_lite.core.features import NORMALIZATIONS, extractor_names
from gocor_lite.data.examples import example_names, load_example
from gocor_lite.files.images import resize_to_fit
from gocor_lite.gocor.initializers import INITIALIZERS

if TYPE_CHECKING:
    import gradio as gr
else:

    class _Gradio:
        """Gradio, imported when a component is first made: the actions (and the API's
        computations) import this module without it."""

        def __getattr__(self, name: str) -> Any:
            import gradio

            return getattr(gradio, name)

    gr = _Gradio()

Needs = Literal["pair", "volumes", "flow", "given"]
Kind = Literal["picture", "text", "file", "control"]
CELL_EVENTS = frozenset({"pixel", "iteration", "colour_scale"})  # what follows the clicked cell


class Sources(Protocol):
    """What the outputs are drawn from (the :class:`~explorer.handlers.Explorer`)."""

    pipeline: Pipeline
    networks: NetworkViews
    exports: Exports

    def plots(self, computed: Computed) -> render.Plots: ...
    def flow_key(self, view: View) -> Hashable: ...
    def title(self, view: View) -> str: ...
    def label(self, view: View) -> str: ...


class Frame:
    """What the outputs of one view are drawn from, each part computed when first asked."""

    def __init__(
        self,
        sources: Sources,
        session: Session,
        view: View,
        shown: dict[str, Hashable],
        flow_warning: str = "",
        given: Mapping[str, Any] | None = None,
    ):
        self.sources, self.session, self.view = sources, session, view
        self.shown = shown  # output -> key, as updated so far by this screen
        self.flow_warning = flow_warning  # said in the network view's status
        self.given = dict(given or {})  # values the action passes (needs="given")
        self._lock = threading.Lock()  # drawings run in parallel: shared parts made once
        self._made: dict[str, Any] = {}

    @cached_property
    def working(self) -> WorkingPair:
        return self.sources.pipeline.working_pair(self.view.pair_id, self.view.settings)

    @cached_property
    def cell(self) -> tuple[int, int]:
        return self.working.cell(self.view.pixel)

    @cached_property
    def truth(self) -> Any:
        return self.working.true_match(self.cell)

    @cached_property
    def computed(self) -> Computed | None:
        return self.sources.pipeline.cached(self.view.pair_id, self.view.settings)

    @cached_property
    def probe(self) -> Probe | None:
        computed = self.computed
        if computed is None:
            return None
        return self.sources.pipeline.probe(computed, self.view.pixel, self.view.iteration)

    @cached_property
    def flow_key(self) -> Hashable:
        return self.sources.flow_key(self.view)

    @cached_property
    def flow(self) -> NetworkComputed | None:
        view = self.view
        if not view.flow_open:
            return None
        return self.sources.networks.cached(view.pair_id, view.settings, view.network)

    @property
    def volumes(self) -> tuple[str, Settings]:
        return (self.view.pair_id, self.view.settings)

    @property
    def iteration(self) -> int:
        return min(self.view.iteration, self.view.settings.num_iter)

    @property
    def scale(self) -> str:
        return self.view.colour_scale

    @cached_property
    def title(self) -> str:
        return self.sources.title(self.view)

    @cached_property
    def label(self) -> str:
        return self.sources.label(self.view)

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        """A part several outputs share (drawn once for all of them)."""
        with self._lock:
            if name not in self._made:
                self._made[name] = make()
            return self._made[name]

    def ready(self, output: Output) -> bool:
        """Whether what an output is drawn from is in memory."""
        if output.needs == "volumes":
            return self.computed is not None and self.probe is not None
        if output.needs == "flow":
            return self.flow is not None
        if output.needs == "given":
            return self.given.get(output.name) is not None
        return True


@dataclass(frozen=True)
class Output:
    """One output of the page (module docstring)."""

    name: str
    place: str
    component: Callable[[Any], Any]  # the first screen's value -> component(s)
    key: Callable[[Frame], Hashable]
    draw: Callable[[Frame], Any]
    needs: Needs = "volumes"
    events: frozenset[str] = frozenset()
    kind: Kind = "picture"
    send: Callable[[Any, tuple[Any, ...]], dict[Any, Any]] | None = None  # controls' updates

    def updates(self, value: Any, components: tuple[Any, ...]) -> dict[Any, Any]:
        """The page's updates showing ``value`` (a picture: the path of its file)."""
        if self.send is not None:
            return self.send(value, components)
        if self.kind == "file":
            path = value if isinstance(value, str) else None
            return {components[0]: gr.DownloadButton(value=path, interactive=path is not None)}
        return {components[0]: value}


OUTPUTS: dict[str, Output] = {}  # every output, in the order of the page's places


def register(output: Output) -> Output:
    """Declare an output (its name must be new)."""
    if output.name in OUTPUTS:
        raise ValueError(f"the output {output.name!r} is declared twice")
    OUTPUTS[output.name] = output
    return output


def names(kind: Kind | None = None) -> tuple[str, ...]:
    """The outputs (of one kind), in declaration order."""
    return tuple(name for name, output in OUTPUTS.items() if kind is None or output.kind == kind)


def reach(event: str | frozenset[str] | None) -> frozenset[str]:
    """The outputs an event reaches (``None``: an event that may change any, e.g. a new pair;
    a set of output names: those)."""
    if isinstance(event, frozenset):
        return event
    return frozenset(
        name for name, output in OUTPUTS.items() if event is None or event in output.events
    )


# The event being handled (set by the page's wiring): which outputs an action computes.
EVENT: contextvars.ContextVar[str | frozenset[str] | None] = contextvars.ContextVar(
    "event", default=None
)


@contextlib.contextmanager
def reaching(event: str | frozenset[str] | None) -> Iterator[None]:
    """Actions in this block compute the outputs ``event`` reaches only."""
    token = EVENT.set(event)
    try:
        yield
    finally:
        EVENT.reset(token)


class Screen:
    """What to show after an action, by output: ``values`` holds the outputs that change (a new
    value, or ``None``: cleared); any other output reads :data:`KEEP` (left as it is).
    ``label`` names the pair the pictures are of; ``compute``: a computation must follow."""

    def __init__(
        self,
        view: View,
        status: str,
        label: str = "",
        compute: bool = False,
        warning: bool = False,
        **values: Any,
    ):
        self.view, self.status, self.label = view, status, label
        self.compute, self.warning = compute, warning
        self.values = {name: value for name, value in values.items() if value is not KEEP}

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        if name in OUTPUTS:
            return KEEP
        raise AttributeError(name)

    def merged(self, later: Screen) -> Screen:
        """This screen followed by ``later`` (what an API call returns after both)."""
        return Screen(
            later.view,
            later.status,
            later.label,
            later.compute,
            later.warning,
            **{**self.values, **later.values},
        )

    def __repr__(self) -> str:
        return f"Screen(status={self.status[:40]!r}, values={sorted(self.values)})"


# -- components ----------------------------------------------------------------------------------
def picture(label: str, elem_id: str, heading: str = "") -> Callable[[Any], gr.Image]:
    """A picture the server draws (a file it wrote); its title is drawn in it or above it."""

    def make(value: Any) -> gr.Image:
        if heading:
            gr.Markdown(heading)
        return gr.Image(
            value=value,
            label=label,
            show_label=False,
            elem_id=elem_id,
            elem_classes=["picture"],
            format="jpeg",
            type="numpy",
            interactive=False,
            buttons=["fullscreen"],
        )

    return make


def text(elem_id: str, label: str) -> Callable[[Any], gr.Markdown]:
    return lambda value: gr.Markdown(
        value if isinstance(value, str) else "", elem_id=elem_id, label=label
    )


def download(label: str, elem_id: str) -> Callable[[Any], gr.DownloadButton]:
    def make(value: Any) -> gr.DownloadButton:
        path = value if isinstance(value, str) else None
        return gr.DownloadButton(
            label, value=path, interactive=path is not None, size="sm", elem_id=elem_id
        )

    return make


def example_index(name: Any) -> int | None:
    """The gallery's thumbnail of a bundled pair (None: another pair)."""
    pairs = example_names()
    return pairs.index(name) if name in pairs else None


def _thumbnail(name: str) -> np.ndarray:
    pair = load_example(name)
    target, source = resize_to_fit(pair.target, 160), resize_to_fit(pair.source, 160)
    height = max(target.shape[0], source.shape[0])
    gap = np.full((height, 6, 3), 255, np.uint8)
    padded = [
        np.pad(image, ((0, height - image.shape[0]), (0, 0), (0, 0)), constant_values=255)
        for image in (target, source)
    ]
    return np.concatenate([padded[0], gap, padded[1]], axis=1)


def _pairs(value: Any) -> tuple[gr.Radio, gr.Gallery]:
    pairs = example_names()
    gr.Markdown(f"**{len(pairs)} bundled pairs** (target | source): click one.")
    gallery = gr.Gallery(
        value=[(_thumbnail(name), name) for name in pairs],
        label=f"{len(pairs)} bundled pairs",
        show_label=False,
        columns=2,
        allow_preview=False,
        height="auto",
        object_fit="contain",
        selected_index=example_index(value),
        elem_id="gallery",
    )
    radio = gr.Radio(
        pairs,
        value=value if isinstance(value, str) else None,
        label="or choose by name",
        elem_id="example",
    )
    return radio, gallery


def _send_example(value: Any, components: tuple[Any, ...]) -> dict[Any, Any]:
    radio, gallery = components  # the gallery highlights the same pair as the radio
    return {radio: value, gallery: gr.Gallery(selected_index=example_index(value))}


def setting_controls(settings: Settings) -> tuple[Any, ...]:
    """One control per setting, labelled with :data:`~explorer.pipeline.SETTING_LABELS` and
    explained by :data:`explorer.explanations.SETTINGS`, in the order of
    :data:`~explorer.state.SETTING_CONTROLS`. Radio buttons, not dropdowns:
    every choice is in view, and Gradio 6's dropdown sends its ``input`` event twice per choice
    (once on the choice, once on the blur it then causes)."""
    labels, help = SETTING_LABELS, explanations.SETTINGS

    def radio(name: str, choices: Any) -> gr.Radio:
        return gr.Radio(
            list(choices),
            value=getattr(settings, name),
            label=labels[name],
            info=help[name],
            elem_id=f"setting-{name.replace('_', '-')}",
        )

    def slider(name: str, low: int, high: int, label: str) -> gr.Slider:
        return gr.Slider(
            low,
            high,
            step=1,
            value=getattr(settings, name),
            label=label,
            info=help[name],
            elem_id=f"setting-{name.replace('_', '-')}",
        )

    makers: dict[str, Callable[[], Any]] = {
        "features": lambda: radio("features", extractor_names()),
        "normalization": lambda: radio("normalization", NORMALIZATIONS),
        "working_size": lambda: radio("working_size", WORKING_SIZES),
        "search_radius": lambda: slider(
            "search_radius", 1, MAX_RADIUS, f"{labels['search_radius']} (cells)"
        ),
        "num_iter": lambda: slider("num_iter", 0, MAX_ITERATIONS, labels["num_iter"]),
        "initializer": lambda: radio("initializer", INITIALIZERS),
        "gocor_parameters": lambda: radio("gocor_parameters", GOCOR_PARAMETERS),
        "query_loss": lambda: gr.Checkbox(
            value=settings.query_loss,
            label=f"global GOCor: {labels['query_loss']} (slow: working resolution "
            f"{QUERY_LOSS_MAX_SIZE} px or less, few iterations)",
            info=help["query_loss"],
            elem_id="setting-query-loss",
        ),
        "local_centre": lambda: radio("local_centre", LOCAL_CENTRES),
    }
    assert tuple(makers) == SETTING_CONTROLS
    return tuple(make() for make in makers.values())


def _send_settings(value: Any, components: tuple[Any, ...]) -> dict[Any, Any]:
    if not isinstance(value, Settings):
        return {}
    return {
        control: getattr(value, name)
        for name, control in zip(SETTING_CONTROLS, components, strict=True)
    }


def _iteration(value: Any) -> gr.Slider:
    return gr.Slider(
        0,
        value.maximum,
        step=1,
        value=value.value,
        elem_id="iteration",
        label="GOCor iteration shown in the panels",
        scale=2,
    )


def _send_iteration(value: Any, components: tuple[Any, ...]) -> dict[Any, Any]:
    if not isinstance(value, IterationControl):
        return {}
    return {
        components[0]: gr.Slider(
            maximum=value.maximum, value=value.value, interactive=value.interactive
        )
    }


def _colour_scale(value: Any) -> gr.Radio:
    return gr.Radio(
        list(render.COLOUR_SCALES),
        value=value,
        label="colour scale",
        scale=1,
        elem_id="colour-scale",
    )


def _colour_bar(value: Any) -> gr.Image:
    return gr.Image(
        value,
        label="colour bar",
        show_label=False,
        interactive=False,
        format="png",
        height=70,
        container=False,
        buttons=[],
        elem_id="colour-bar",
    )


def _confidence_controls(value: Any) -> tuple[Any, ...]:
    choice = value if isinstance(value, rules_render.ConfidenceChoice) else None
    choice = choice or rules_render.ConfidenceChoice()
    volume = gr.Radio(
        list(CONFIDENCE_VOLUMES),
        value=choice.volume,
        label="matches of",
        info=explanations.choices(explanations.CONFIDENCE_OF),
        elem_id="confidence-volume",
    )
    measure = gr.Radio(
        list(CONFIDENCE_MEASURES),
        value=choice.measure,
        label="confidence measure",
        info=explanations.choices(explanations.CONFIDENCE),
        elem_id="confidence-measure",
    )
    hidden = gr.Slider(
        0,
        rules_render.MAX_HIDDEN,
        step=5,
        value=choice.hidden,
        label="hide the least confident matches (%)",
        info="the matches below this share of the ranking are hidden in the pictures "
        "and left out of the matches file",
        elem_id="confidence-hidden",
    )
    return volume, measure, hidden


def _send_confidence(value: Any, components: tuple[Any, ...]) -> dict[Any, Any]:
    if not isinstance(value, rules_render.ConfidenceChoice):
        return {}
    volume, measure, hidden = components
    return {volume: value.volume, measure: value.measure, hidden: value.hidden}


def _network(value: Any) -> gr.Radio:
    return gr.Radio(
        list(NETWORKS),
        value=value.label if isinstance(value, NetworkChoice) else None,
        label="network",
        elem_id="network",
        scale=2,
    )


def _send_network(value: Any, components: tuple[Any, ...]) -> dict[Any, Any]:
    return {components[0]: value.label} if isinstance(value, NetworkChoice) else {}


def _send_section(value: Any, components: tuple[Any, ...]) -> dict[Any, Any]:
    return {components[0]: gr.Accordion(open=value)} if isinstance(value, bool) else {}


def _link(value: Any) -> gr.Textbox:
    """The view's query string: not shown, but in the page (its change runs LINK_SCRIPT)."""
    return gr.Textbox(
        value=value if isinstance(value, str) else "",
        visible="hidden",
        interactive=False,
        elem_id="link",
        label="link",
    )


# -- drawings shared by several outputs -------------------------------------------------------
def _panel(attribute: str) -> Callable[[Frame], Any]:
    def draw(frame: Frame) -> np.ndarray:
        probe = frame.probe
        assert frame.computed is not None and probe is not None
        return render.panel(frame.computed, probe, getattr(probe, attribute), frame.scale)

    return draw


def _flow_part(part: str) -> Callable[[Frame], Any]:
    def draw(frame: Frame) -> Any:
        assert frame.flow is not None
        flow = frame.flow
        return getattr(frame.once("flow", lambda: render.flow_pictures(flow)), part)

    return draw


def _confidence_part(part: str) -> Callable[[Frame], Any]:
    def draw(frame: Frame) -> Any:
        computed = frame.computed
        assert computed is not None
        choice = frame.view.confidence
        pictures = frame.once(
            "confidence", lambda: rules_render.confidence_pictures(computed, choice)
        )
        return getattr(pictures, part)

    return draw


def _flow_file(suffix: str) -> Callable[[Frame], Any]:
    def draw(frame: Frame) -> Any:
        assert frame.flow is not None
        return frame.sources.exports.flow(frame.flow, frame.label, suffix)

    return draw


def _volumes(frame: Frame) -> tuple[Computed, Probe]:
    assert frame.computed is not None and frame.probe is not None
    return frame.computed, frame.probe


def escape(text: str) -> str:
    """Text from a user (a file name) shown in markdown as it is: no markup, no HTML tags."""
    for character in "\\`*_[]<>#|~":
        text = text.replace(character, "\\" + character)
    return text


def warning(message: str) -> str:
    """A message in bold; what it quotes (file names: ``my_model.pth``) shown as it is."""
    for character in "\\*_[]<>#|~":
        message = message.replace(character, "\\" + character)
    return f"⚠️ **{message}**" if message else ""


def _table(frame: Frame) -> str:
    computed, probe = _volumes(frame)
    rows = [
        f"Best matches of target cell {probe.cell} of **{frame.title}**, iteration "
        f"{probe.iteration}:",
        "",
        "| method | best match (x, y) px | peak score | error to the true match |",
        "|---|---|---|---|",
    ]
    for item in probe.panels:
        error = "unknown" if item.error is None else f"{item.error:.1f} px"
        rows.append(
            f"| {item.name} | ({item.best[0]:.0f}, {item.best[1]:.0f}) | "
            f"{item.peak:.3f} | {error} |"
        )
    return (
        "\n".join(rows)
        + rules_render.window_note(computed, probe.cell, probe)
        + rules_render.ambiguity_note(computed, probe.cell)
    )


def flow_status_text(flow: NetworkComputed, label: str) -> str:
    pair = flow.pair
    height, width = pair.target.shape[:2]
    lines = [
        f"**{escape(label)}** at {width}×{height} px: {escape(flow.name)} "
        f"(`{flow.config_name}`), {len(flow.trace.levels)} levels; computed in "
        f"{flow.seconds:.1f} s (estimated {flow.estimate:.0f} s with a margin).",
    ]
    if flow.mean_error is None:
        lines.append("No ground truth for this pair: the error is unknown (teal in the map).")
    else:
        lines.append(
            f"**Average endpoint error: {flow.mean_error:.2f} px** (over the pixels whose true "
            "match is known; teal in the map: unknown)."
        )
    lines.append(
        "Below the flow: each level's scores for the pixel you click on the target, over the "
        "source (the global level over the whole source, each local level's window after "
        "warping, where it reads the source; GOCor levels iteration by iteration)."
    )
    lines.extend(f"Note: {note}." for note in flow.notes)
    return "\n\n".join(lines)


def _flow_status(frame: Frame) -> str:
    view = frame.view
    refused = frame.session.refused_flows.get(frame.flow_key)
    if frame.flow_warning:
        return warning(frame.flow_warning)
    if frame.flow is not None:
        return flow_status_text(frame.flow, frame.title)
    if not view.flow_open:
        return "Open this section to compute the flow."
    if refused is not None:
        return warning(refused)
    return f"Computing the flow of **{frame.title}**…"


def _iteration_control(frame: Frame) -> IterationControl:
    settings = frame.view.settings
    return IterationControl(max(settings.num_iter, 1), frame.iteration, settings.num_iter > 0)


def _example(frame: Frame) -> str | None:
    pair_id = frame.view.pair_id
    return pair_id.removeprefix("example:") if pair_id.startswith("example:") else None


def _levels_key(frame: Frame) -> Hashable:
    extra = (frame.view.pixel, frame.scale) if frame.flow is not None else ()
    return ("network_levels", frame.flow_key, *extra)


def _network_levels(frame: Frame) -> np.ndarray:
    assert frame.flow is not None
    flow = frame.flow
    scores = probe_network(flow, frame.view.pixel)
    return network_render.levels_picture(flow, scores, frame.scale)


# -- the outputs, in the order of the page -----------------------------------------------------
def _choice(frame: Frame) -> tuple[Any, ...]:
    choice = frame.view.confidence
    return (choice.volume, choice.measure, choice.hidden)


def cell_key(name: str, *more: Callable[[Frame], Any]) -> Callable[[Frame], Hashable]:
    """The key of an output of the clicked cell: its name, the volumes, the cell, ``more``."""
    return lambda f: (name, *f.volumes, f.cell, *(m(f) for m in more))


def flow_key(name: str) -> Callable[[Frame], Hashable]:
    """The key of an output of the network view's flow."""
    return lambda f: (name, f.flow_key)


def pair_key(name: str) -> Callable[[Frame], Hashable]:
    """The key of an output of the whole pair's volumes (not of a cell)."""
    return lambda f: (name, *f.volumes)


def _plot(name: str) -> Callable[[Frame], Any]:
    return lambda f: getattr(f.sources.plots(_volumes(f)[0]), name)


def confidence_key(name: str) -> Callable[[Frame], Hashable]:
    """The key of an output of the confidence view."""
    return lambda f: (name, *f.volumes, f.view.confidence)


def _iteration_of(f: Frame) -> int:
    return f.iteration


def _no_iteration(f: Frame) -> None:
    return None


def _scale_of(f: Frame) -> str:
    return f.scale


def of_view(f: Frame) -> tuple[Any, ...]:
    return (f.view.pair_id, f.view.settings.working_size, f.working.stride)


register(
    Output(
        "target",
        "target",
        picture("target image", "target", "### Target image: click a pixel"),
        key=lambda f: ("target", *of_view(f), f.cell),
        draw=lambda f: render.target_picture(f.working, f.cell),
        needs="pair",
        events=CELL_EVENTS,
    )
)
register(
    Output(
        "source",
        "source",
        picture(
            "source image",
            "source",
            "### Source image (◯ true match, where the pair has a ground truth)",
        ),
        key=lambda f: ("source", *of_view(f), f.cell if f.truth is not None else None),
        draw=lambda f: render.source_picture(f.working, f.truth),
        needs="pair",
        events=CELL_EVENTS,
    )
)
register(
    Output(
        "iteration",
        "view controls",
        _iteration,
        key=_iteration_control,
        draw=_iteration_control,
        needs="pair",
        events=frozenset({"iteration"}),
        kind="control",
        send=_send_iteration,
    )
)
register(
    Output(
        "colour_scale",
        "view controls",
        _colour_scale,
        key=lambda f: ("browser", f.scale),
        draw=lambda f: f.scale,
        needs="pair",
        events=frozenset({"colour_scale"}),
        kind="control",
    )
)
register(
    Output(
        "colour_bar",
        "colour bar",
        _colour_bar,
        key=lambda f: ("colour_bar", f.scale),
        draw=lambda f: render.colour_bar(f.scale),
        needs="pair",
        events=frozenset({"colour_scale"}),
    )
)
register(
    Output(
        "example",
        "pairs",
        _pairs,
        key=_example,
        draw=_example,
        needs="pair",
        kind="control",
        send=_send_example,
    )
)
for name, label, by_iteration in (
    ("local_correlation", "local correlation", 0),
    ("global_correlation", "global correlation", 0),
    ("gocor_global", "GOCor global", 1),
    ("gocor_local", "GOCor local", 1),
):
    register(
        Output(
            name,
            "panels",
            picture(label, name.replace("_", "-")),
            key=cell_key(name, _iteration_of if by_iteration else _no_iteration, _scale_of),
            draw=_panel(name),
            events=CELL_EVENTS,
        )
    )
register(
    Output(
        "settings",
        "settings",
        lambda value: setting_controls(value),
        key=lambda f: control_key(
            {name: getattr(f.view.settings, name) for name in SETTING_CONTROLS}
        ),
        draw=lambda f: f.view.settings,
        needs="pair",
        kind="control",
        send=_send_settings,
    )
)
register(
    Output(
        "table",
        "tables",
        text("table", "table"),
        key=cell_key("table", _iteration_of),
        draw=_table,
        events=CELL_EVENTS,
        kind="text",
    )
)
register(
    Output(
        "rules_table",
        "tables",
        text("rules-table", "whole-image table"),
        key=lambda f: ("rules_table", *f.volumes, f.iteration),
        draw=lambda f: rules_render.accuracy_table(_volumes(f)[0], f.iteration, f.title),
        events=CELL_EVENTS,
        kind="text",
    )
)
register(
    Output(
        "rules_panel",
        "rules",
        picture("every matching rule", "rules-panel"),
        key=cell_key("rules_panel"),
        draw=lambda f: rules_render.rules_panel(*_volumes(f)),
        events=CELL_EVENTS,
    )
)
register(
    Output(
        "strip",
        "strip",
        picture("iterations", "strip"),
        key=cell_key("strip", _iteration_of, _scale_of),
        draw=lambda f: render.strip(*_volumes(f), f.scale),
        events=CELL_EVENTS,
    )
)
register(
    Output(
        "arithmetic",
        "arithmetic",
        picture("the arithmetic of one score", "arithmetic"),
        key=cell_key("arithmetic", _iteration_of),
        draw=lambda f: render.arithmetic_picture(
            arithmetic(_volumes(f)[0], f.view.pixel, f.iteration)
        ),
        events=CELL_EVENTS,
    )
)
for name, label in (("losses", "GOCor losses per iteration"), ("functions", "learned y, v, m")):
    register(
        Output(
            name,
            "plots",
            picture(label, name),
            key=pair_key(name),
            draw=_plot(name),
        )
    )
register(
    Output(
        "flow_section",
        "network",
        lambda value: gr.Accordion(
            "The network, level by level: GLU-Net's flow of the whole pair, and what each "
            "level sees at the clicked pixel (open to compute)",
            open=False,
            elem_id="flow-view",
        ),
        key=lambda f: ("browser", f.view.flow_open),
        draw=lambda f: f.view.flow_open,
        needs="pair",
        kind="control",
        send=_send_section,
    )
)
register(
    Output(
        "network_choice",
        "network choice",
        _network,
        key=lambda f: ("browser", f.view.network.label),
        draw=lambda f: f.view.network,
        needs="pair",
        kind="control",
        send=_send_network,
    )
)
register(
    Output(
        "flow_status",
        "network status",
        text("flow-status", "flow status"),
        key=lambda f: ("flow_status", _flow_status(f)),
        draw=_flow_status,
        needs="pair",
        kind="text",
    )
)
for name, part, label, elem_id, place in (
    ("flow", "flow", "flow", "flow", "flow"),
    ("warped", "warped", "source warped onto the target", "warped", "flow results"),
    ("flow_error", "error", "endpoint error", "flow-error", "flow results"),
    ("flow_levels", "levels", "every level's flow", "flow-levels", "flow levels"),
):
    register(
        Output(
            name,
            place,
            picture(label, elem_id),
            key=flow_key(name),
            draw=_flow_part(part),
            needs="flow",
        )
    )
register(
    Output(
        "network_levels",
        "network levels",
        picture("every level's scores", "network-levels"),
        key=_levels_key,
        draw=_network_levels,
        needs="flow",
        events=CELL_EVENTS,
    )
)
confidence = frozenset({"confidence"})
register(
    Output(
        "confidence_choice",
        "confidence controls",
        _confidence_controls,
        key=lambda f: ("browser", *_choice(f)),
        draw=lambda f: f.view.confidence,
        needs="pair",
        events=confidence,
        kind="control",
        send=_send_confidence,
    )
)
for name, part, label, elem_id, kind in (
    ("confidence_map", "confidence", "confidence", "confidence-map", "picture"),
    ("match_map", "matches", "matches", "match-map", "picture"),
    ("confidence_status", "text", "confidence status", "confidence-status", "text"),
):
    register(
        Output(
            name,
            "confidence" if kind == "picture" else "confidence status",
            picture(label, elem_id) if kind == "picture" else text(elem_id, label),
            key=confidence_key(name),
            draw=_confidence_part(part),
            events=confidence,
            kind="picture" if kind == "picture" else "text",
        )
    )
register(
    Output(
        "score_maps_file",
        "downloads",
        download("this pixel's score maps (.npy)", "score-maps-file"),
        key=cell_key("score_maps_file", _iteration_of),
        draw=lambda f: f.sources.exports.score_maps(*_volumes(f), f.label),
        events=CELL_EVENTS,
        kind="file",
    )
)
register(
    Output(
        "matches_file",
        "downloads",
        download("matches with confidence (.csv)", "matches-file"),
        key=lambda f: ("matches_file", *f.volumes, f.view.confidence),
        draw=lambda f: f.sources.exports.matches(_volumes(f)[0], f.view.confidence, f.label),
        events=confidence,
        kind="file",
    )
)
for name, label, suffix in (
    ("flow_flo_file", "flow (.flo, Middlebury)", ".flo"),
    ("flow_npy_file", "flow (.npy)", ".npy"),
):
    register(
        Output(
            name,
            "downloads",
            download(label, name.replace("_", "-")),
            key=flow_key(name),
            draw=_flow_file(suffix),
            needs="flow",
            kind="file",
        )
    )
register(
    Output(
        "pictures_file",
        "pictures download",
        download("pictures (.zip of PNG)", "pictures-file"),
        # Cleared as soon as any picture changes (its key: what they show).
        key=lambda f: ("pictures_file", tuple(f.shown.get(n) for n in names("picture"))),
        draw=lambda f: f.given["pictures_file"],
        needs="given",
        events=CELL_EVENTS | confidence,
        kind="file",
    )
)
register(
    Output(
        "link",
        "link",
        _link,
        key=lambda f: ("link", link.query_of(f.view)),
        draw=lambda f: link.query_of(f.view),
        needs="pair",
        events=CELL_EVENTS | confidence,
        kind="text",
    )
)


PICTURES = names("picture")  # the outputs that are pictures (drawn into JPEG files)
FILES = names("file")  # the outputs that are files offered for download
