# SPDX-License-Identifier: MIT
"""The explorer's page (layer: page): Gradio layout and event wiring only.

:func:`build` lays the page out (:func:`_layout`: each output at its place, declared in
:mod:`explorer.outputs`), then wires each group of controls (``_wire_*``, through
:class:`explorer.wiring.Wiring`): every event calls one action of
:class:`explorer.handlers.Explorer` and shows the :class:`~explorer.outputs.Screen` it returns
(:meth:`explorer.page.Page.updates`: only the outputs that change). Run it with
``python -m explorer``.

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
  browser (:data:`explorer.wiring.EVENT_NUMBER`); it applies its click to the session's view
  only if it is the newest so far and draws nothing: the page's one redraw event draws what
  clicks changed, one at a time per page, from the view when it runs, and runs again after
  each computation (:meth:`explorer.wiring.Wiring.redraw`), so the page ends on the last
  click by construction (answers drawn by two handlers at once could reach the page in
  either order: Gradio postprocesses and sends them after they return);
* the controls' own events apply them: a radio's ``input``, a slider's ``release`` (the end of
  a drag, the number box left), and Enter in a slider's number box or an arrow key on a
  slider through :data:`SLIDER_KEYS` (Gradio's slider sends no event for either).

The API (``gradio_client``): the same actions, each one call that also computes what it needs.
"""

from __future__ import annotations

import atexit
import logging
from pathlib import Path
from typing import Any

import gradio as gr

from explorer import sections
from explorer.handlers import Explorer
from explorer.link import QUERY_KEYS
from explorer.network_page import network_section
from explorer.outputs import Screen
from explorer.page import PICTURES_FOLDER, Page, publish_first, remove_written
from explorer.pipeline import MAX_ASPECT, MIN_SIDE, synthetic_kinds
from explorer.state import SETTING_CONTROLS, Session
from explorer.wiring import ACTIONS, ACTIONS_AT_ONCE, Wiring, wire_computation
from gocor_lite.data.examples import example_names

log = logging.getLogger(__name__)
ASSETS = Path(__file__).resolve().parents[1] / "assets"
MAX_FILE_SIZE = "150mb"  # uploads: photos and the authors' checkpoint (~60 MB)
QUEUE_SIZE = 64  # waiting events beyond this are refused ("queue is full")

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

STRIP_NOTE = """### One pixel through GOCor's iterations: the paper's Fig. 1 for this pixel
Top: the pixel's filter scored on the **target** image itself, which GOCor fits to a single peak
at the pixel. Bottom: the same filter on the **source** image. Columns: plain correlation, then
GOCor iterations 0..K (framed: the iteration above). One pixel shows *how* GOCor reshapes a score
map, not whether it helps: for that, see the pair's ambiguous and distinctive halves (*Where
GOCor matters*, beside the table above)."""

ARITHMETIC_NOTE = """### The arithmetic of one score
A score is a sum over the feature channels: global correlation's `Σ_c f_i[c] f'_j[c]`, GOCor's
`Σ_c w_i[c] f'_j[c]` with its optimised filter `w_i` in place of the clicked cell's feature
`f_i`. Top: `f_i` and `w_i` channel by channel; below, for each source cell that matters
(correlation's best match, GOCor's, the true match), the terms of both sums: the channels that
make a look-alike score high, and how the filter moves them."""

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


def _layout(first: Screen, files: dict[str, str]) -> Page:
    """The page's components, showing the first screen (called inside ``gr.Blocks``): each
    output is made at its place (:data:`explorer.outputs.OUTPUTS`), the rest here."""
    page = Page(first, files)
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):  # the pair, and right under it the four panels
            with gr.Row():
                with gr.Column(min_width=240):
                    page.place("target")
                with gr.Column(min_width=240):
                    page.place("source")
            gr.Markdown(
                "### Where each method puts the match of the clicked pixel, over the source image"
            )
            with gr.Row():
                page.place("panels")
            with gr.Row(equal_height=True):
                page.place("view controls")
            page.place("colour bar")
            page.status = gr.Markdown(first.status, elem_id="status", label="status")
        with gr.Column(scale=1, min_width=380):  # beside them: what they show and how
            _pair_tabs(page)
            _settings(page)
    with gr.Row(equal_height=False):
        page.place("tables")
    sections.rules_layout(page)
    gr.Markdown(STRIP_NOTE)
    page.place("strip")
    gr.Markdown(ARITHMETIC_NOTE)
    page.place("arithmetic")
    with gr.Row():
        page.place("plots")
    network_section(page)
    sections.confidence_layout(page)
    with gr.Accordion(
        "Export: the flow, this pixel's score maps, the matches, the pictures",
        open=False,
        elem_id="export",
    ):
        sections.export_layout(page)
    page.place("link")
    return page


def _pair_tabs(page: Page) -> None:
    """The pairs: bundled (gallery and names), uploaded, or a synthetic warp."""
    kinds = synthetic_kinds()
    with gr.Tab("Pairs"):
        page.place("pairs")
    with gr.Tab("Upload"):
        gr.Markdown(
            "Any size (scaled to the working resolution), PNG, JPEG, TIFF, grey, RGBA or "
            f"16-bit; each side at least {MIN_SIDE} px, the sides in a ratio of at most "
            f"{MAX_ASPECT:g}:1."
        )
        page.control(
            "target_file",
            gr.File(label="target image", file_types=["image"], elem_id="target-file"),
        )
        page.control(
            "source_file",
            gr.File(label="source image", file_types=["image"], elem_id="source-file"),
        )
        page.control(
            "upload_button",
            gr.Button("Use these images", variant="primary", elem_id="upload-button"),
        )
    with gr.Tab("Synthetic"):
        gr.Markdown(
            "Warp one image with a random transformation: the ground truth is then "
            "known. Leave the file empty to warp the current target."
        )
        page.control(
            "synthetic_file",
            gr.File(label="image (optional)", file_types=["image"], elem_id="synthetic-file"),
        )
        page.control(
            "seed", gr.Number(value=0, label="random seed (a whole number)", elem_id="seed")
        )
        page.control("kind", gr.Radio(kinds, value=kinds[0], label="kind of warp", elem_id="kind"))
        page.control(
            "synthetic_button",
            gr.Button("Make a synthetic pair", variant="primary", elem_id="synthetic-button"),
        )


def _settings(page: Page) -> None:
    """The settings, in the column beside the four panels they change (opening them moves
    nothing in the panels' column), with the weights files."""
    with gr.Accordion(
        "Settings: features, resolution, iterations, GOCor variant, weights",
        open=False,
        elem_id="settings",
    ):
        page.place("settings")
        gr.Markdown(WEIGHTS_NOTE)
        page.control(
            "weights_file",
            gr.File(
                label="weights file (.pth, .pt, .tar)",
                file_types=[".pth", ".pt", ".tar"],
                elem_id="weights-file",
            ),
        )
        with gr.Row():
            page.control(
                "weights_button", gr.Button("GOCor from this file", elem_id="gocor-weights")
            )
            page.control(
                "feature_weights_button",
                gr.Button("Features from this file", elem_id="feature-weights"),
            )
            page.control("initial_button", gr.Button("No weights files", elem_id="no-weights"))


def _wire_clicks(wiring: Wiring) -> None:
    """The target image: a click selects a pixel (and a plain endpoint for scripts: the
    API cannot send select events)."""
    explorer, page = wiring.explorer, wiring.page

    def click(session: Session, index: Any) -> Screen:
        x, y = index if isinstance(index, list | tuple) and len(index) == 2 else (None, None)
        return explorer.click_displayed(session, x, y)

    wiring.on_select("target", page.target.select, click, "pixel")
    api_x, api_y = gr.Number(visible=False), gr.Number(visible=False)
    wiring.api("select_pixel", explorer.click, {"x": api_x, "y": api_y}, heavy=False, event="pixel")


def _wire_view(wiring: Wiring) -> None:
    """The iteration slider and the colour scale: how the computed maps are shown."""
    explorer, page = wiring.explorer, wiring.page
    wiring.on(page.iteration.release, explorer.set_iteration, [page.iteration], "iteration")
    wiring.on(
        page.colour_scale.input, explorer.set_colour_scale, [page.colour_scale], "colour_scale"
    )
    named = {"iteration": page.iteration}
    wiring.api("set_iteration", explorer.set_iteration, named, heavy=False, event="iteration")
    wiring.api(
        "set_colour_scale",
        explorer.set_colour_scale,
        {"colour_scale": page.colour_scale},
        heavy=False,
        event="colour_scale",
    )


def _wire_pairs(wiring: Wiring) -> None:
    """The bundled pairs (gallery and names), uploads and synthetic warps."""
    explorer, page = wiring.explorer, wiring.page
    names = example_names()

    def gallery(session: Session, index: Any) -> Screen:
        name = names[index] if isinstance(index, int) and 0 <= index < len(names) else ""
        return explorer.choose_example(session, name)

    radio, thumbnails = page.example
    wiring.on_select("gallery", thumbnails.select, gallery)
    wiring.on(radio.input, explorer.choose_example, [radio])
    upload = [page.target_file, page.source_file]
    wiring.on(page.upload_button.click, explorer.upload_pair, upload)
    synthetic = [page.synthetic_file, page.seed, page.kind]
    wiring.on(page.synthetic_button.click, explorer.make_synthetic, synthetic)
    wiring.api("choose_example", explorer.choose_example, {"name": radio})
    wiring.api(
        "upload_pair", explorer.upload_pair, dict(zip(("target", "source"), upload, strict=True))
    )
    wiring.api(
        "make_synthetic",
        explorer.make_synthetic,
        dict(zip(("image", "seed", "kind"), synthetic, strict=True)),
    )


def _wire_settings(wiring: Wiring) -> None:
    """The setting controls: any change applies all of them (a refused one is set back)."""
    explorer, page = wiring.explorer, wiring.page
    controls = list(page.settings)

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


def _wire_weights(wiring: Wiring) -> None:
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


def _wire_flow(wiring: Wiring) -> None:
    """The network view: computed while its section is open; the network, and the authors'
    weights file (giving one chooses the authors' network)."""
    explorer, page = wiring.explorer, wiring.page
    wiring.on(page.flow_section.expand, explorer.open_flow, [])
    wiring.on(page.flow_section.collapse, explorer.close_flow, [])
    choice = [page.network_choice, page.network_file]
    wiring.on(page.network_choice.input, explorer.choose_network, choice)
    wiring.on(page.network_file.upload, explorer.use_network_file, [page.network_file])
    wiring.api(
        "choose_network",
        explorer.choose_network,
        {"network": page.network_choice, "weights_file": page.network_file},
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
        files = publish_first(first, cache)
        atexit.register(remove_written, Path(cache) / PICTURES_FOLDER, explorer.exports)
        page = _layout(first, files)
        page.session.value = explorer.new_session
        wiring = Wiring(explorer, page)
        _wire_clicks(wiring)
        _wire_view(wiring)
        _wire_pairs(wiring)
        _wire_settings(wiring)
        _wire_weights(wiring)
        _wire_flow(wiring)
        sections.wire(wiring)
        wire_computation(wiring)  # last: it runs the select events' refreshes

        def opened(session: Session | None, request: gr.Request) -> dict[Any, Any]:
            """A page opened: the first screen, or the view its link names."""
            params = dict(getattr(request, "query_params", None) or {})
            if not any(key in QUERY_KEYS for key in params):
                return wiring.show(session, explorer.opened)
            return wiring.show(session, lambda session: explorer.open_link(session, params))

        demo.load(
            opened,
            [page.session],
            page.components(),
            api_visibility="private",
            show_progress="hidden",
            concurrency_id=ACTIONS,
            concurrency_limit=ACTIONS_AT_ONCE,
        )
        demo.load(None, None, None, js=SLIDER_KEYS, api_visibility="private")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    return demo


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
