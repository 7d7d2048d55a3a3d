# SPDX-License-Identifier: MIT
"""The explorer's page: Gradio layout and event wiring only.

:func:`build` lays the page out (:func:`_layout`), then wires each group of controls
(``_wire_*``): every event calls one action of :class:`explorer.handlers.Explorer` and shows the
:class:`~explorer.handlers.Screen` it returns (:meth:`Page.updates`: only the outputs that
change). Run it with ``python -m explorer``.

Concurrency (the queue):

* every action runs in the ``"actions"`` group, several at a time across sessions: a click on
  a computed pair never waits behind another session's computation;
* an action that needs a computation changes the session's *ticket* (a ``gr.State``), whose
  change event runs :meth:`~explorer.handlers.Explorer.fulfil` in the ``"compute"`` group, one
  at a time (they use both cores). ``trigger_mode="always_last"`` keeps at most one waiting
  per session, and a computation that a newer request superseded stops at its next step;
* each session's actions change its state one at a time (the session's lock);
* a select event (a click on the target image, on a gallery thumbnail) is sent on every click
  (``trigger_mode="multiple"``: Gradio's ``"always_last"`` sends the event it deferred with
  the data of the *first* one, so a quick second click showed the first), numbered in the
  browser (:data:`EVENT_NUMBER`); the handler that is showing a session's selects shows the
  newest one when it is done, and one that arrives after a newer one is dropped
  (:class:`_Selects`), and after each computation what clicks show is drawn again in turn
  with them; the page ends on the last click, save for a rare race still open (about one
  run in seven of ``tests/test_explorer_events.py`` with the app's tests, right after a
  computation; its test is an expected failure until found);
* the controls' own events apply them: a radio's ``input``, a slider's ``release`` (the end of
  a drag, the number box left), and Enter in a slider's number box or an arrow key on a
  slider through :data:`SLIDER_KEYS` (Gradio's slider sends no event for either).

The API (``gradio_client``): the same actions, each one call that also computes what it needs.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import io
import logging
import os
import re
import secrets
import shutil
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from explorer import explanations, render, sections
from explorer.export_view import Exports
from explorer.handlers import (
    FILES,
    KEEP,
    PICTURES,
    SETTING_CONTROLS,
    Explorer,
    IterationControl,
    Screen,
    Session,
)
from explorer.link import QUERY_KEYS
from explorer.network_page import network_section
from explorer.network_view import NetworkChoice
from explorer.pipeline import (
    GOCOR_PARAMETERS,
    LOCAL_CENTRES,
    MAX_ASPECT,
    MAX_ITERATIONS,
    MAX_RADIUS,
    MIN_SIDE,
    QUERY_LOSS_MAX_SIZE,
    SETTING_LABELS,
    WORKING_SIZES,
    Settings,
    synthetic_kinds,
)
from explorer.rules_view import ConfidenceChoice
from gocor_lite.core.features import NORMALIZATIONS, extractor_names
from gocor_lite.data.examples import example_names, load_example
from gocor_lite.files.images import resize_to_fit
from gocor_lite.gocor.initializers import INITIALIZERS

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parents[1] / "assets"
MAX_FILE_SIZE = "150mb"  # uploads: photos and the authors' checkpoint (~60 MB)
QUEUE_SIZE = 64  # waiting events beyond this are refused ("queue is full")
ACTIONS = "actions"  # the concurrency group of the actions (cheap: slicing and drawing)
ACTIONS_AT_ONCE = 2  # actions of different sessions served at the same time (2 cores)
COMPUTE = "compute"  # the concurrency group of the computations (one at a time: 2 cores)
JPEG_QUALITY = 85  # sharp enough for the text bands
SESSION_LIFETIME = 4 * 3600  # s: an idle API session's state is dropped after this
# This process's pictures, in Gradio's cache: deleted when it stops (as its exports are).
PICTURES_FOLDER = f"explorer-{os.getpid()}-{secrets.token_hex(4)}"

INTRO = """# GOCor explorer: where does this pixel match?
**Click a pixel of the target image** (left). The four panels show, over the source image, how
strongly each method scores every source position as the match of that pixel (bright = high): plain
**local** and **global correlation**, and **GOCor**, which first optimises the pixel's filter on
the target image itself. Marks (the course's one notation): ▢ the clicked pixel, ✚ each method's
best match, ◯ the true match where it is known, ⬚ the local search window. The strip below shows
GOCor iteration by iteration: the top row is what GOCor optimises (the filter on the target image:
ideally one peak at the clicked pixel), the bottom row what it outputs. *An honest note:* one
pixel shows how GOCor reshapes a score map, not whether it helps. That is measured over the whole
pair beside the panels: every method's accuracy, and the cells split into ambiguous and distinctive
halves (*Where GOCor matters*): the ambiguous half is where GOCor is meant to help; the table says
whether this project's trained GOCor (the default) does on the shown pair (on some it does not)."""

WEIGHTS_NOTE = """**Weights files you have** (nothing is downloaded). Put a file in “weights
file”, then: **GOCor from this file** for the authors' GLU-Net-GOCor checkpoint (trained GOCor
for 512-channel VGG-16 features: choose the `official-glunet-gocor` features first, with the
same file); choose `vgg16` or `official-glunet-gocor` above with the file in place to use it
for the features; **Features from this file** gives the current features other weights."""

# The fullscreen button sits above each picture, not over its corner (where markers can be).
CSS = """
#status, #table {font-size: 0.95rem}
#table table, #rules-table table {font-size: 0.85rem}
#table td, #table th, #rules-table td, #rules-table th {padding: 3px 6px !important}
.help {font-size: 0.85rem}
footer {display: none !important}
.picture .icon-button-wrapper {position: static !important; justify-content: flex-end;
  background: none !important; box-shadow: none !important; margin: 0 0 2px auto;}
.picture .image-container, .picture .image-frame {height: auto !important}
#gallery .thumbnail-item {aspect-ratio: 2.1 / 1 !important; height: auto !important}
#gallery .grid-container {grid-template-rows: none !important; grid-auto-rows: auto !important}
"""

_ENCODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jpeg")  # Pillow frees the GIL

# Runs in the browser before a select event is sent: its last input becomes the event's number
# in this page (1, 2, ...), so that the server knows which click came last.
EVENT_NUMBER = (
    "(...values) => { window.__explorerEvents = (window.__explorerEvents || 0) + 1;"
    " return [...values.slice(0, -1), window.__explorerEvents]; }"
)

# Runs in the browser once the page is loaded: Enter in a slider's number box leaves the box
# (which releases the slider), and letting go of an arrow key (Page Up/Down, Home, End) on a
# slider or its number box releases it, as the end of a drag does.
SLIDER_KEYS = """() => {
    if (window.__explorerSliderKeys) return [];
    window.__explorerSliderKeys = true;
    const moves = ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'PageUp', 'PageDown',
                   'Home', 'End'];
    const slider = (element) => element instanceof HTMLInputElement
        && (element.type === 'range' || element.type === 'number')
        && !!element.closest('.block')?.querySelector('input[type=range]');
    document.addEventListener('keydown', (event) => {
        const input = event.target;
        if (event.key === 'Enter' && slider(input) && input.type === 'number') input.blur();
    }, true);
    document.addEventListener('keyup', (event) => {
        const input = event.target;
        if (!slider(input) || !moves.includes(event.key)) return;
        if (input.type === 'number' && (event.key === 'ArrowLeft' || event.key === 'ArrowRight'
                                        || event.key === 'Home' || event.key === 'End')) return;
        input.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));
    }, true);
    return [];
}"""


# The Screen fields an event may change, besides the status (the session forgets an output an
# event cannot reach, so that a later one sends it).
SHOWN = (
    *PICTURES,
    "table",
    "iteration",
    "settings",
    "example",
    "flow_status",
    "network_choice",
    "flow_section",
    "rules_table",
    "confidence_status",
    "confidence_choice",
    *FILES,
    "link",
    "colour_scale",
)
# What a click changes: the marker, the maps of the clicked cell, the tables, its files, the
# link (and the pictures' zip, cleared when a picture changes).
PROBE = frozenset(
    (
        "target",
        "source",
        "local_correlation",
        "global_correlation",
        "gocor_global",
        "gocor_local",
        "strip",
        "arithmetic",
        "table",
        "network_levels",
        "rules_panel",
        "rules_table",
        "score_maps_file",
        "pictures_file",
        "link",
    )
)
# What the confidence view's controls change.
CONFIDENCE = frozenset(
    (
        "confidence_map",
        "match_map",
        "confidence_status",
        "confidence_choice",
        "matches_file",
        "pictures_file",
        "link",
    )
)
EVERYTHING = frozenset(SHOWN)


@dataclass
class Page:
    """Every component an event reads or writes, named as the :class:`Screen` fields they show
    (``settings``: the setting controls, by :data:`~explorer.handlers.SETTING_CONTROLS`)."""

    session: gr.State
    ticket: gr.State  # changes when a computation is asked for; its change event computes
    status: gr.Markdown
    target: gr.Image
    source: gr.Image
    local_correlation: gr.Image
    global_correlation: gr.Image
    gocor_global: gr.Image
    gocor_local: gr.Image
    strip: gr.Image
    arithmetic: gr.Image
    table: gr.Markdown
    colour_bar: gr.Image
    losses: gr.Image
    functions: gr.Image
    iteration: gr.Slider
    colour_scale: gr.Radio
    example: gr.Radio
    gallery: gr.Gallery
    settings: dict[str, Any]  # setting name -> its control
    target_file: gr.File
    source_file: gr.File
    upload_button: gr.Button
    synthetic_file: gr.File
    seed: gr.Number
    kind: gr.Radio
    synthetic_button: gr.Button
    weights_file: gr.File
    weights_button: gr.Button
    feature_weights_button: gr.Button
    initial_button: gr.Button
    flow_section: gr.Accordion  # the network view (explorer.network_page)
    network: gr.Radio
    network_file: gr.File
    flow_status: gr.Markdown
    flow: gr.Image
    warped: gr.Image
    flow_error: gr.Image
    flow_levels: gr.Image
    network_levels: gr.Image
    rules_panel: gr.Image  # explorer.sections: the matching rules, confidence, export, link
    rules_table: gr.Markdown
    confidence_volume: gr.Radio
    confidence_measure: gr.Radio
    confidence_hidden: gr.Slider
    confidence_map: gr.Image
    match_map: gr.Image
    confidence_status: gr.Markdown
    score_maps_file: gr.DownloadButton
    matches_file: gr.DownloadButton
    flow_flo_file: gr.DownloadButton
    flow_npy_file: gr.DownloadButton
    pictures_file: gr.DownloadButton
    pictures_button: gr.Button
    link: gr.Textbox

    def progress_targets(self) -> list[Any]:
        """Where a computation's progress shows: what it will fill."""
        names = [name for name in PICTURES if name not in ("target", "source", "colour_bar")]
        return [self.status, *(getattr(self, name) for name in names), self.flow_status]

    def updates(
        self,
        screen: Screen,
        session: Session,
        reach: frozenset[str] = EVERYTHING,
        ticket: bool = True,
    ) -> dict[Any, Any]:
        """The changed outputs of a screen among those the event can ``reach`` (Screen field
        names); a changed output out of reach is forgotten by the session, so that a later
        event sends it. Pictures are written as files named after their pair
        (``<pair>.<output>.jpeg``); a warning also shows as a toast."""
        if screen.warning and isinstance(screen.status, str):  # a toast: plain text
            first = screen.status.removeprefix("⚠️").split("\n")[0].strip(" *")
            gr.Warning(re.sub(r"\\(.)", r"\1", first))
        updates: dict[Any, Any] = {self.session: session}
        if screen.status is not KEEP:
            updates[self.status] = screen.status
        if ticket and screen.compute:
            updates[self.ticket] = session.generation
        changed = {name for name in SHOWN if getattr(screen, name) is not KEEP}
        session.forget(changed - reach)
        changed &= reach
        pictures = {name: getattr(screen, name) for name in PICTURES if name in changed}
        published = _publish(
            {name: value for name, value in pictures.items() if isinstance(value, np.ndarray)},
            screen.label,
            self.target.GRADIO_CACHE,
        )
        for name in pictures:
            updates[getattr(self, name)] = published.get(name)
        texts = ("table", "example", "flow_status", "rules_table", "confidence_status", "link")
        for name in (*texts, "colour_scale"):
            if name in changed:
                updates[getattr(self, name)] = getattr(screen, name)
        if "example" in changed:  # the gallery highlights the same pair as the radio
            updates[self.gallery] = gr.Gallery(selected_index=_example_index(screen.example))
        if "flow_section" in changed and isinstance(screen.flow_section, bool):
            updates[self.flow_section] = gr.Accordion(open=screen.flow_section)
        for name in FILES:
            if name in changed:
                updates[getattr(self, name)] = sections.file_update(getattr(screen, name))
        if "confidence_choice" in changed and isinstance(
            screen.confidence_choice, ConfidenceChoice
        ):
            choice = screen.confidence_choice
            updates[self.confidence_volume] = choice.volume
            updates[self.confidence_measure] = choice.measure
            updates[self.confidence_hidden] = choice.hidden
        if "iteration" in changed and isinstance(screen.iteration, IterationControl):
            control = screen.iteration
            updates[self.iteration] = gr.Slider(
                maximum=control.maximum, value=control.value, interactive=control.interactive
            )
        if "settings" in changed and isinstance(screen.settings, Settings):
            for name, component in self.settings.items():
                updates[component] = getattr(screen.settings, name)
        if "network_choice" in changed and isinstance(screen.network_choice, NetworkChoice):
            updates[self.network] = screen.network_choice.label
        return updates

    def components(self, reach: frozenset[str], ticket: bool = True) -> list[Any]:
        """The components of the outputs in ``reach`` (and the session, the status and, for the
        page's events, the ticket: every event writes those)."""
        chosen = [self.session, self.ticket, self.status] if ticket else [self.session, self.status]
        for name in SHOWN:
            if name not in reach:
                continue
            if name == "settings":
                chosen += list(self.settings.values())
            elif name == "network_choice":
                chosen.append(self.network)
            elif name == "example":
                chosen += [self.example, self.gallery]
            elif name == "confidence_choice":
                chosen += [self.confidence_volume, self.confidence_measure, self.confidence_hidden]
            else:
                chosen.append(getattr(self, name))
        return chosen


def _publish(pictures: dict[str, np.ndarray], label: str, cache: str) -> dict[str, str]:
    """Encode pictures (in parallel) into files in Gradio's cache, named
    ``<label>.<output>.jpeg`` under a folder named by their content: what the browser loads
    names the pair it shows."""

    def write(item: tuple[str, np.ndarray]) -> tuple[str, str]:
        name, picture = item
        kind = "png" if name == "colour_bar" else "jpeg"
        buffer = io.BytesIO()
        options = {"quality": JPEG_QUALITY} if kind == "jpeg" else {}
        Image.fromarray(picture).save(buffer, format=kind, **options)
        data = buffer.getvalue()
        folder = Path(cache) / PICTURES_FOLDER / hashlib.sha256(data).hexdigest()[:24]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{label or 'pair'}.{name.replace('_', '-')}.{kind}"
        if not path.exists():
            path.write_bytes(data)
        return name, str(path)

    return dict(_ENCODERS.map(write, pictures.items()))


def _remove_written(pictures: Path, exports: Exports) -> None:
    """Delete what this process wrote: its pictures and its exports (at exit)."""
    shutil.rmtree(pictures, ignore_errors=True)
    exports.remove()


def _example_index(name: Any) -> int | None:
    """The gallery's thumbnail of a bundled pair (None: another pair)."""
    names = example_names()
    return names.index(name) if name in names else None


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


def _image(label: str, elem_id: str, value: Any) -> gr.Image:
    """A picture the server draws (a file it wrote); its title is drawn in it or above it."""
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


def _layout(first: Screen, files: dict[str, str]) -> Page:
    """The page's components, showing the first screen (called inside ``gr.Blocks``)."""
    view, settings, kinds = first.view, first.view.settings, synthetic_kinds()
    names = example_names()
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            with gr.Row():
                with gr.Column(min_width=240):
                    gr.Markdown("### Target image: click a pixel")
                    target = _image("target image", "target", files.get("target"))
                with gr.Column(min_width=240):
                    gr.Markdown(
                        "### Source image (◯ true match, where the pair has a ground truth)"
                    )
                    source = _image("source image", "source", files.get("source"))
            status = gr.Markdown(first.status, elem_id="status", label="status")
            with gr.Row(equal_height=True):
                iteration = gr.Slider(
                    0,
                    max(settings.num_iter, 1),
                    step=1,
                    value=view.iteration,
                    elem_id="iteration",
                    label="GOCor iteration shown in the panels",
                    scale=2,
                )
                colour_scale = gr.Radio(
                    list(render.COLOUR_SCALES),
                    value=view.colour_scale,
                    label="colour scale",
                    scale=1,
                    elem_id="colour-scale",
                )
            colour_bar = gr.Image(
                files.get("colour_bar"),
                label="colour bar",
                show_label=False,
                interactive=False,
                format="png",
                height=70,
                container=False,
                buttons=[],
                elem_id="colour-bar",
            )
        with gr.Column(scale=1, min_width=380):
            with gr.Tab("Pairs"):
                gr.Markdown(f"**{len(names)} bundled pairs** (target | source): click one.")
                gallery = gr.Gallery(
                    value=[(_thumbnail(name), name) for name in names],
                    label=f"{len(names)} bundled pairs",
                    show_label=False,
                    columns=2,
                    allow_preview=False,
                    height="auto",
                    object_fit="contain",
                    selected_index=_example_index(first.example),
                    elem_id="gallery",
                )
                example = gr.Radio(
                    names,
                    value=first.example if isinstance(first.example, str) else None,
                    label="or choose by name",
                    elem_id="example",
                )
            with gr.Tab("Upload"):
                gr.Markdown(
                    "Any size (scaled to the working resolution), PNG, JPEG, TIFF, grey, RGBA or "
                    f"16-bit; each side at least {MIN_SIDE} px, the sides in a ratio of at most "
                    f"{MAX_ASPECT:g}:1."
                )
                target_file = gr.File(
                    label="target image", file_types=["image"], elem_id="target-file"
                )
                source_file = gr.File(
                    label="source image", file_types=["image"], elem_id="source-file"
                )
                upload_button = gr.Button(
                    "Use these images", variant="primary", elem_id="upload-button"
                )
            with gr.Tab("Synthetic"):
                gr.Markdown(
                    "Warp one image with a random transformation: the ground truth is then "
                    "known. Leave the file empty to warp the current target."
                )
                synthetic_file = gr.File(
                    label="image (optional)", file_types=["image"], elem_id="synthetic-file"
                )
                seed = gr.Number(value=0, label="random seed (a whole number)", elem_id="seed")
                kind = gr.Radio(kinds, value=kinds[0], label="kind of warp", elem_id="kind")
                synthetic_button = gr.Button(
                    "Make a synthetic pair", variant="primary", elem_id="synthetic-button"
                )
            with gr.Accordion(
                "Settings: features, resolution, iterations, GOCor variant, weights",
                open=False,
                elem_id="settings",
            ):
                controls = _setting_controls(settings)
                gr.Markdown(WEIGHTS_NOTE)
                weights_file = gr.File(
                    label="weights file (.pth, .pt, .tar)",
                    file_types=[".pth", ".pt", ".tar"],
                    elem_id="weights-file",
                )
                with gr.Row():
                    weights_button = gr.Button("GOCor from this file", elem_id="gocor-weights")
                    feature_weights_button = gr.Button(
                        "Features from this file", elem_id="feature-weights"
                    )
                    initial_button = gr.Button("No weights files", elem_id="no-weights")
    gr.Markdown("### Where each method puts the match of the clicked pixel, over the source image")
    with gr.Row():
        local_correlation = _image(
            "local correlation", "local-correlation", files.get("local_correlation")
        )
        global_correlation = _image(
            "global correlation", "global-correlation", files.get("global_correlation")
        )
        gocor_global = _image("GOCor global", "gocor-global", files.get("gocor_global"))
        gocor_local = _image("GOCor local", "gocor-local", files.get("gocor_local"))
    with gr.Row(equal_height=False):
        table = gr.Markdown(
            first.table if isinstance(first.table, str) else "", elem_id="table", label="table"
        )
        rules_table = gr.Markdown(
            first.rules_table if isinstance(first.rules_table, str) else "",
            elem_id="rules-table",
            label="whole-image table",
        )
    rules_panel = sections.rules_layout(first, files, _image)
    gr.Markdown(
        "### One pixel through GOCor's iterations: the paper's Fig. 1 for this pixel\n"
        "Top: the pixel's filter scored on the **target** image itself, which GOCor fits to a "
        "single peak at the pixel. Bottom: the same filter on the **source** image. Columns: "
        "plain correlation, then GOCor iterations 0..K (framed: the iteration above). One pixel "
        "shows *how* GOCor reshapes a score map, not whether it helps: for that, see the pair's "
        "ambiguous and distinctive halves (*Where GOCor matters*, beside the table above)."
    )
    strip = _image("iterations", "strip", files.get("strip"))
    gr.Markdown(
        "### The arithmetic of one score\n"
        "A score is a sum over the feature channels: global correlation's `Σ_c f_i[c] f'_j[c]`, "
        "GOCor's `Σ_c w_i[c] f'_j[c]` with its optimised filter `w_i` in place of the clicked "
        "cell's feature `f_i`. Top: `f_i` and `w_i` channel by channel; below, for each source "
        "cell that matters (correlation's best match, GOCor's, the true match), the terms of "
        "both sums: the channels that make a look-alike score high, and how the filter moves "
        "them."
    )
    arithmetic = _image("the arithmetic of one score", "arithmetic", files.get("arithmetic"))
    with gr.Row():
        losses = _image("GOCor losses per iteration", "losses", files.get("losses"))
        functions = _image("learned y, v, m", "functions", files.get("functions"))
    network = network_section(first, _image)
    confidence = sections.confidence_layout(first, files, _image)
    with gr.Accordion(
        "Export: the flow, this pixel's score maps, the matches, the pictures",
        open=False,
        elem_id="export",
    ):
        downloads = sections.export_layout(first)
    link = sections.link_component(first)
    return Page(
        session=gr.State(None, time_to_live=SESSION_LIFETIME),
        ticket=gr.State(0),
        status=status,
        target=target,
        source=source,
        local_correlation=local_correlation,
        global_correlation=global_correlation,
        gocor_global=gocor_global,
        gocor_local=gocor_local,
        strip=strip,
        arithmetic=arithmetic,
        table=table,
        colour_bar=colour_bar,
        losses=losses,
        functions=functions,
        iteration=iteration,
        colour_scale=colour_scale,
        example=example,
        gallery=gallery,
        settings=controls,
        target_file=target_file,
        source_file=source_file,
        upload_button=upload_button,
        synthetic_file=synthetic_file,
        seed=seed,
        kind=kind,
        synthetic_button=synthetic_button,
        weights_file=weights_file,
        weights_button=weights_button,
        feature_weights_button=feature_weights_button,
        initial_button=initial_button,
        flow_section=network.section,
        network=network.network,
        network_file=network.network_file,
        flow_status=network.flow_status,
        flow=network.flow,
        warped=network.warped,
        flow_error=network.flow_error,
        flow_levels=network.flow_levels,
        network_levels=network.network_levels,
        rules_panel=rules_panel,
        rules_table=rules_table,
        **confidence,
        **downloads,
        link=link,
    )


def _setting_controls(settings: Settings) -> dict[str, Any]:
    """One control per setting, labelled with :data:`~explorer.pipeline.SETTING_LABELS` and
    explained by :data:`explorer.explanations.SETTINGS`, in the order of
    :data:`~explorer.handlers.SETTING_CONTROLS`. Radio buttons, not dropdowns: every choice is
    in view, and Gradio 6's dropdown sends its ``input`` event twice per choice (once on the
    choice, once on the blur it then causes)."""
    labels, help = SETTING_LABELS, explanations.SETTINGS

    def radio(name: str, choices: Any, **options: Any) -> gr.Radio:
        return gr.Radio(
            list(choices),
            value=getattr(settings, name),
            label=labels[name],
            info=help[name],
            elem_id=f"setting-{name.replace('_', '-')}",
            **options,
        )

    controls = {
        "features": radio("features", extractor_names()),
        "normalization": radio("normalization", NORMALIZATIONS),
        "working_size": radio("working_size", WORKING_SIZES),
        "search_radius": gr.Slider(
            1,
            MAX_RADIUS,
            step=1,
            value=settings.search_radius,
            label=f"{labels['search_radius']} (cells)",
            info=help["search_radius"],
            elem_id="setting-search-radius",
        ),
        "num_iter": gr.Slider(
            0,
            MAX_ITERATIONS,
            step=1,
            value=settings.num_iter,
            label=labels["num_iter"],
            info=help["num_iter"],
            elem_id="setting-num-iter",
        ),
        "initializer": radio("initializer", INITIALIZERS),
        "gocor_parameters": radio("gocor_parameters", GOCOR_PARAMETERS),
        "query_loss": gr.Checkbox(
            value=settings.query_loss,
            label=f"global GOCor: {labels['query_loss']} (slow: working resolution "
            f"{QUERY_LOSS_MAX_SIZE} px or less, few iterations)",
            info=help["query_loss"],
            elem_id="setting-query-loss",
        ),
        "local_centre": radio("local_centre", LOCAL_CENTRES),
    }
    assert tuple(controls) == SETTING_CONTROLS
    return controls


# -- wiring: one function per group of controls ------------------------------------------------
AGAIN = object()  # a select kind's refresh: nothing to apply, its outputs drawn again


@dataclass
class _Newest:
    """The newest select event of one kind in one session."""

    number: float = 0.0  # its number in the page (EVENT_NUMBER)
    index: Any = None  # its data: the clicked pixel, the chosen thumbnail
    count: int = 0  # how many events were taken (a change: a newer one came)
    showing: bool = False  # whether a handler is showing this kind (it shows the newest)
    pending: bool = False  # whether ``index`` is still to be applied (a refresh applies none)


class _Selects:
    """Select events, sent on every click, the newest shown: one handler at a time shows a
    session's events of one kind; the others note theirs (when newer) and return at once, and
    the showing handler shows the newest again until none came meanwhile (one answer, the
    screens merged; it stops showing only once its answer is made, so that no answer of an
    older event can follow a newer one's). An event older than one already noted is dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._newest: weakref.WeakKeyDictionary[Session, dict[str, _Newest]] = (
            weakref.WeakKeyDictionary()
        )

    def note(self, session: Session, kind: str, number: Any, index: Any) -> bool:
        """Note an event; whether this handler must show it (no other is showing its kind).
        ``index`` :data:`AGAIN`: a refresh (the current view drawn again, nothing applied)."""
        with self._lock:
            newest = self._newest.setdefault(session, {}).setdefault(kind, _Newest())
            if isinstance(number, int | float) and not isinstance(number, bool):
                if number <= newest.number:
                    return False  # a newer one was noted: it is shown instead
                newest.number = float(number)
            if index is not AGAIN:
                newest.index, newest.pending = index, True
            newest.count += 1
            if newest.showing:
                return False
            newest.showing = True
            return True

    def show(
        self,
        session: Session,
        kind: str,
        act: Callable[[Any], Screen],
        send: Callable[[Screen], dict[Any, Any]],
        again: Callable[[], Screen],
    ) -> dict[Any, Any]:
        """``act(index)`` on the newest event until no newer one was noted meanwhile (``again()``
        when the newest is a refresh and no event waits to be applied); the answer: ``send`` of
        the screens merged."""
        with self._lock:
            newest = self._newest[session][kind]
        screen: Screen | None = None
        try:
            while True:
                with self._lock:
                    index, count, pending = newest.index, newest.count, newest.pending
                    newest.pending = False
                later = act(index) if pending else again()
                screen = later if screen is None else _then(screen, later)
                with self._lock:
                    if newest.count != count:
                        continue
                answer = send(screen)
                with self._lock:
                    if newest.count == count:
                        newest.showing = False
                        return answer
        except BaseException:
            with self._lock:
                newest.showing = False
            raise


def _then(earlier: Screen, later: Screen) -> Screen:
    """Two screens sent as one: ``later`` over ``earlier``; a computation if either asks."""
    return dataclasses.replace(earlier.merged(later), compute=earlier.compute or later.compute)


class _Wiring:
    """How every event is wired: an action in the ``"actions"`` group, its screen shown, and
    a computation through the ticket when one is needed; API endpoints do both in one call.
    ``reach``: the outputs an event may change (a click: only what the clicked cell shows;
    fewer outputs, less work for Gradio: it rebuilds each output it leaves unchanged)."""

    def __init__(self, explorer: Explorer, page: Page):
        self.explorer = explorer
        self.page = page
        self.selects = _Selects()
        # Each select kind's refresh (its handler, its outputs): run after every computation.
        self.refreshes: list[tuple[Callable[[Any], dict[Any, Any]], frozenset[str]]] = []

    def session(self, session: Session | None) -> Session:
        return session if isinstance(session, Session) else self.explorer.new_session()

    def on(
        self,
        trigger: Any,
        action: Callable[..., Screen],
        inputs: list[Any],
        reach: frozenset[str] = EVERYTHING,
    ) -> None:
        """A control's event: the action, quick, in the actions group (nothing to wait for)."""

        def handler(session: Session | None, *values: Any) -> dict[Any, Any]:
            return self.show(session, lambda session: action(session, *values), reach)

        self._wire(trigger, handler, inputs, reach)

    def on_select(
        self,
        kind: str,
        trigger: Any,
        action: Callable[[Session, Any], Screen],
        reach: frozenset[str] = EVERYTHING,
        again: frozenset[str] | None = None,
    ) -> None:
        """A select event (a click on an image or a gallery): the action gets its index. Every
        click is sent, numbered in the page; the newest of a ``kind`` is shown (_Selects).
        After every computation the outputs ``again`` (default ``reach``) are drawn again in
        turn with these events (a computation's answer may reach the page after theirs)."""
        selects = self.selects

        def shown(
            session: Session | None, number: Any, index: Any, outputs: frozenset[str]
        ) -> dict[Any, Any]:
            session = self.session(session)
            if not selects.note(session, kind, number, index):
                return {self.page.session: session}  # shown by the handler showing its kind
            try:
                return selects.show(
                    session,
                    kind,
                    lambda index: action(session, index),
                    lambda screen: self.page.updates(screen, session, outputs),
                    lambda: self.explorer.current(session),
                )
            except Exception:
                return self.failed(session)

        def handler(session: Session | None, number: Any, event: gr.SelectData) -> dict[Any, Any]:
            return shown(session, number, event.index, reach)

        def refresh(session: Session | None) -> dict[Any, Any]:
            # After a computation's answer: it was drawn from the view of when it finished,
            # and its pictures may have reached the page after a newer event's (they take
            # longer to send). What this kind shows is drawn again from the view now, in turn
            # with the events of its kind.
            if isinstance(session, Session):
                session.forget(set(redrawn))
            return shown(session, None, AGAIN, redrawn)

        redrawn = reach if again is None else again
        self.refreshes.append((refresh, redrawn))

        trigger(
            handler,
            [self.page.session, gr.Number(visible=False)],  # the number: EVENT_NUMBER
            self.page.components(reach),
            js=EVENT_NUMBER,
            concurrency_id=ACTIONS,
            concurrency_limit=ACTIONS_AT_ONCE,
            trigger_mode="multiple",
            show_progress="hidden",
            api_visibility="private",
        )

    def show(
        self,
        session: Session | None,
        act: Callable[[Session], Screen],
        reach: frozenset[str] = EVERYTHING,
        ticket: bool = True,
    ) -> dict[Any, Any]:
        """The updates of an action's screen; an error here is logged, never shown as a
        stack trace (the actions themselves turn errors into messages)."""
        session = self.session(session)
        try:
            return self.page.updates(act(session), session, reach, ticket)
        except Exception:
            return self.failed(session)

    def failed(self, session: Session) -> dict[Any, Any]:
        """After an unexpected error (logged here): said in plain words, nothing else."""
        log.exception("unexpected error while showing a screen")
        message = "⚠️ **something went wrong on the server (the error is in its log)**"
        return {self.page.session: session, self.page.status: message}

    def _wire(
        self,
        trigger: Any,
        handler: Callable[..., dict[Any, Any]],
        inputs: list[Any],
        reach: frozenset[str],
    ) -> None:
        trigger(
            handler,
            [self.page.session, *inputs],
            self.page.components(reach),
            concurrency_id=ACTIONS,
            concurrency_limit=ACTIONS_AT_ONCE,
            trigger_mode="always_last",
            show_progress="hidden",
            api_visibility="private",
        )

    def api(
        self,
        name: str,
        action: Callable[..., Screen],
        inputs: dict[str, Any],
        heavy: bool = True,
        reach: frozenset[str] = EVERYTHING,
    ) -> None:
        """An API endpoint: the action and the computation it asks for, in one call (heavy
        actions in the compute group; a click computes only if its volumes left memory).
        ``inputs``: the action's arguments by their names in the API, in its order."""
        explorer = self.explorer
        names = list(inputs)

        def handler(
            session: Session | None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
            **values: Any,
        ) -> dict[Any, Any]:
            def act(session: Session) -> Screen:
                screen = action(session, *(values[name] for name in names))
                # What it asked for, or what another call of this session is computing (a
                # click during a recomputation answers when that is done, on its result).
                if screen.compute or explorer.pending(session):
                    screen = screen.merged(explorer.fulfil(session, _reporter(progress)))
                return screen

            return self.show(session, act, reach, ticket=False)

        gr.Button(visible=False).click(
            handler,
            [self.page.session],
            self.page.components(reach, ticket=False),  # an API call computes in itself
            inputs_kwargs={
                name: sections.api_input(name, control) for name, control in inputs.items()
            },
            concurrency_id=COMPUTE if heavy else ACTIONS,
            concurrency_limit=1 if heavy else ACTIONS_AT_ONCE,
            api_name=name,
            api_visibility="public",
        )


def _wire_computation(wiring: _Wiring) -> None:
    """The ticket: each change computes what the session's view needs, one at a time."""
    explorer, page = wiring.explorer, wiring.page

    def fulfil(
        session: Session | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> dict[Any, Any]:
        return wiring.show(session, lambda session: explorer.fulfil(session, _reporter(progress)))

    computed = page.ticket.change(
        fulfil,
        [page.session],
        page.components(EVERYTHING),
        concurrency_id=COMPUTE,
        concurrency_limit=1,
        trigger_mode="always_last",
        show_progress="full",
        show_progress_on=page.progress_targets(),
        api_visibility="private",
    )

    def refresh(session: Session | None) -> dict[Any, Any]:
        """Every select kind's refresh, in one request (the select events are wired first)."""
        answer: dict[Any, Any] = {}
        for again, _ in wiring.refreshes:
            answer.update(again(answer.get(page.session, session)))
        return answer

    redrawn = frozenset().union(*(reach for _, reach in wiring.refreshes))
    computed.then(
        refresh,
        [page.session],
        page.components(redrawn),
        concurrency_id=ACTIONS,
        concurrency_limit=ACTIONS_AT_ONCE,
        show_progress="hidden",
        api_visibility="private",
    )


def _wire_clicks(wiring: _Wiring) -> None:
    """The target image: a click selects a pixel (and a plain endpoint for scripts: the
    API cannot send select events)."""
    explorer, page = wiring.explorer, wiring.page

    def click(session: Session, index: Any) -> Screen:
        x, y = index if isinstance(index, list | tuple) and len(index) == 2 else (None, None)
        return explorer.click_displayed(session, x, y)

    wiring.on_select("target", page.target.select, click, PROBE)
    api_x, api_y = gr.Number(visible=False), gr.Number(visible=False)
    wiring.api("select_pixel", explorer.click, {"x": api_x, "y": api_y}, heavy=False, reach=PROBE)


def _wire_view(wiring: _Wiring) -> None:
    """The iteration slider and the colour scale: how the computed maps are shown."""
    explorer, page = wiring.explorer, wiring.page
    wiring.on(
        page.iteration.release, explorer.set_iteration, [page.iteration], PROBE | {"iteration"}
    )
    wiring.on(
        page.colour_scale.input,
        explorer.set_colour_scale,
        [page.colour_scale],
        PROBE | {"colour_bar", "colour_scale"},
    )
    wiring.api(
        "set_iteration",
        explorer.set_iteration,
        {"iteration": page.iteration},
        heavy=False,
        reach=PROBE | {"iteration"},
    )
    wiring.api(
        "set_colour_scale",
        explorer.set_colour_scale,
        {"colour_scale": page.colour_scale},
        heavy=False,
        reach=PROBE | {"colour_bar", "colour_scale"},
    )


def _wire_pairs(wiring: _Wiring) -> None:
    """The bundled pairs (gallery and names), uploads and synthetic warps."""
    explorer, page = wiring.explorer, wiring.page
    names = example_names()

    def gallery(session: Session, index: Any) -> Screen:
        name = names[index] if isinstance(index, int) and 0 <= index < len(names) else ""
        return explorer.choose_example(session, name)

    wiring.on_select("gallery", page.gallery.select, gallery, again=frozenset({"example"}))
    wiring.on(page.example.input, explorer.choose_example, [page.example])
    upload = [page.target_file, page.source_file]
    wiring.on(page.upload_button.click, explorer.upload_pair, upload)
    synthetic = [page.synthetic_file, page.seed, page.kind]
    wiring.on(page.synthetic_button.click, explorer.make_synthetic, synthetic)
    wiring.api("choose_example", explorer.choose_example, {"name": page.example})
    wiring.api(
        "upload_pair", explorer.upload_pair, dict(zip(("target", "source"), upload, strict=True))
    )
    wiring.api(
        "make_synthetic",
        explorer.make_synthetic,
        dict(zip(("image", "seed", "kind"), synthetic, strict=True)),
    )


def _wire_settings(wiring: _Wiring) -> None:
    """The setting controls: any change applies all of them (a refused one is set back)."""
    explorer, page = wiring.explorer, wiring.page
    controls = list(page.settings.values())

    def apply(session: Session, *values: Any) -> Screen:
        *settings, weights = values
        return explorer.apply_settings(
            session, dict(zip(SETTING_CONTROLS, settings, strict=True)), weights
        )

    inputs = [*controls, page.weights_file]
    for control in controls:
        trigger = control.release if isinstance(control, gr.Slider) else control.input
        wiring.on(trigger, apply, inputs)
    wiring.api(
        "apply_settings",
        apply,
        {**dict(zip(SETTING_CONTROLS, controls, strict=True)), "weights_file": page.weights_file},
    )


def _wire_weights(wiring: _Wiring) -> None:
    """The weights-file buttons: GOCor's checkpoint, the features' weights, or neither."""
    explorer, page = wiring.explorer, wiring.page
    wiring.on(page.weights_button.click, explorer.use_weights, [page.weights_file])
    wiring.on(page.feature_weights_button.click, explorer.use_feature_weights, [page.weights_file])
    wiring.on(page.initial_button.click, explorer.reset_weights, [])
    wiring.api("use_weights", explorer.use_weights, {"weights_file": page.weights_file})
    wiring.api(
        "use_feature_weights", explorer.use_feature_weights, {"weights_file": page.weights_file}
    )
    wiring.api("reset_weights", explorer.reset_weights, {})


def _wire_flow(wiring: _Wiring) -> None:
    """The network view: computed while its section is open; the network, and the authors'
    weights file (giving one chooses the authors' network)."""
    explorer, page = wiring.explorer, wiring.page
    wiring.on(page.flow_section.expand, explorer.open_flow, [])
    wiring.on(page.flow_section.collapse, explorer.close_flow, [])
    choice = [page.network, page.network_file]
    wiring.on(page.network.input, explorer.choose_network, choice)
    wiring.on(page.network_file.upload, explorer.use_network_file, [page.network_file])
    wiring.api(
        "choose_network",
        explorer.choose_network,
        {"network": page.network, "weights_file": page.network_file},
    )
    wiring.api("show_flow", explorer.open_flow, {})


def build(explorer: Explorer | None = None, compute_first: bool = True) -> gr.Blocks:
    """The page, with the first bundled pair and a pixel selected, and its volumes computed
    (``compute_first=False``: computed when a page asks, or by ``explorer.compute_first()``
    once the server is up: the server answers sooner)."""
    explorer = explorer or Explorer()
    first = explorer.start(compute_first)
    # Uploaded files and drawn pictures are deleted after two hours (checked every 30 min).
    with gr.Blocks(
        title="GOCor explorer", analytics_enabled=False, delete_cache=(1800, 7200)
    ) as demo:
        cache = gr.Image(render=False).GRADIO_CACHE  # where Gradio serves files from
        pictures = {name: getattr(first, name) for name in PICTURES}
        files = _publish(
            {name: value for name, value in pictures.items() if isinstance(value, np.ndarray)},
            first.label,
            cache,
        )
        atexit.register(_remove_written, Path(cache) / PICTURES_FOLDER, explorer.exports)
        page = _layout(first, files)
        page.session.value = explorer.new_session
        wiring = _Wiring(explorer, page)
        _wire_clicks(wiring)
        _wire_view(wiring)
        _wire_pairs(wiring)
        _wire_settings(wiring)
        _wire_weights(wiring)
        _wire_flow(wiring)
        sections.wire(wiring, CONFIDENCE)
        _wire_computation(wiring)  # last: it runs the select events' refreshes

        def opened(session: Session | None, request: gr.Request) -> dict[Any, Any]:
            """A page opened: the first screen, or the view its link names."""
            params = dict(getattr(request, "query_params", None) or {})
            if not any(key in QUERY_KEYS for key in params):
                return wiring.show(session, explorer.opened)
            return wiring.show(session, lambda session: explorer.open_link(session, params))

        demo.load(
            opened,
            [page.session],
            page.components(EVERYTHING),
            api_visibility="private",
            show_progress="hidden",
            concurrency_id=ACTIONS,
            concurrency_limit=ACTIONS_AT_ONCE,
        )
        demo.load(None, None, None, js=SLIDER_KEYS, api_visibility="private")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    return demo


def _reporter(progress: gr.Progress) -> Any:
    return lambda fraction, message: progress(fraction, desc=message)


def launch_options(
    host: str = "127.0.0.1", port: int | None = 7860, share: bool = False
) -> dict[str, Any]:
    """The safe defaults of :meth:`gradio.Blocks.launch` (local only, own files only)."""
    return {
        "server_name": host,
        "server_port": port,
        "share": share,
        "ssr_mode": False,
        "allowed_paths": [str(ASSETS)] if ASSETS.is_dir() else [],
        "max_file_size": MAX_FILE_SIZE,
        "show_error": False,
        "theme": gr.themes.Soft(),
        "css": CSS,
        "footer_links": ["api"],
    }
