# SPDX-License-Identifier: MIT
"""The explorer's page: Gradio layout and event wiring only.

Every event calls one action of :class:`explorer.handlers.Explorer` and shows the
:class:`~explorer.handlers.Screen` it returns. Run it with ``python -m explorer``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from explorer import render
from explorer.handlers import Explorer, FlowScreen, Screen, View
from explorer.pipeline import (
    FLOW_ESTIMATORS,
    FLOW_VARIANTS,
    GOCOR_PARAMETERS,
    LOCAL_CENTRES,
    MAX_ITERATIONS,
    MAX_RADIUS,
    WORKING_SIZES,
    synthetic_kinds,
)
from gocor_lite.data.examples import example_names, load_example
from gocor_lite.features import NORMALIZATIONS, extractor_names
from gocor_lite.gocor.initializers import INITIALIZERS
from gocor_lite.images import resize_to_fit

ASSETS = Path(__file__).resolve().parents[1] / "assets"
MAX_FILE_SIZE = "150mb"  # uploads: photos and the authors' checkpoint (~60 MB)
QUEUE_SIZE = 16  # waiting events beyond this are refused ("queue is full")

INTRO = """# GOCor explorer: where does this pixel match?
**Click a pixel of the target image** (left). The four panels show, over the source image, how
strongly each method scores every source position as the match of that pixel (bright = high):
plain **local** and **global correlation**, and **GOCor**, which first optimises the pixel's
filter on the target image itself. ✚ marks each method's best match, ◯ the true match where it
is known, ▢ the local search window. The strip below shows GOCor iteration by iteration: the top
row is what GOCor optimises (the filter on the target image: ideally one peak at the clicked
pixel), the bottom row what it outputs. *An honest note:* GOCor's parameters are meant to be
learned. With the paper's initial values it lowers every score and often finds a worse match;
with this project's trained ones (the default) global GOCor matches better than global
correlation on held-out pairs, by a few points (see the README's evaluation)."""

CSS = """
#status, #table {font-size: 0.95rem}
footer {display: none !important}
#gallery .thumbnail-item {aspect-ratio: 2.1 / 1 !important; height: auto !important}
#gallery .grid-container {grid-template-rows: none !important; grid-auto-rows: auto !important}
"""


@dataclass
class _Filled:
    """Components named as the fields of the screen they show; subclasses list them."""

    def outputs(self) -> list[Any]:
        return [getattr(self, item.name) for item in fields(self)]

    def unchanged(self) -> dict[Any, Any]:
        """Updates that leave every component as it is."""
        return {component: gr.skip() for component in self.outputs()}

    def _updates(self, screen: Screen | FlowScreen, status: str) -> dict[Any, Any]:
        """The screen's non-``None`` fields, by component; a warning status is also a toast,
        seen wherever the user is on the page."""
        if status.startswith("⚠️"):
            gr.Warning(status.removeprefix("⚠️").strip(" *"))
        updates: dict[Any, Any] = {}
        for item in fields(screen):
            value = getattr(screen, item.name)
            if value is not None and hasattr(self, item.name):
                updates[getattr(self, item.name)] = value
        return updates


@dataclass
class Components(_Filled):
    """The components a :class:`Screen` fills, by the same names."""

    view: gr.State
    status: gr.Markdown
    target: gr.Image
    source: gr.Image
    local_correlation: gr.Image
    global_correlation: gr.Image
    gocor_global: gr.Image
    gocor_local: gr.Image
    strip: gr.Image
    table: gr.Markdown
    colour_bar: gr.Image
    losses: gr.Image
    functions: gr.Image
    iteration: gr.Slider
    example: gr.Dropdown

    def show(self, screen: Screen) -> dict[Any, Any]:
        """The updates for a screen: its non-``None`` fields, and the iteration control."""
        updates = self._updates(screen, screen.status)
        if screen.num_iter is not None and screen.view.pair_id.startswith("example:"):
            updates[self.example] = screen.view.pair_id.removeprefix("example:")
        if screen.num_iter is not None:
            updates[self.iteration] = gr.Slider(
                maximum=max(screen.num_iter, 1),
                value=screen.view.iteration,
                interactive=screen.num_iter > 0,
            )
        return updates


FLOW_INTRO = """The whole pair at once, as GLU-Net does it: a **global** correlation of both
images shrunk to a fixed working size (so its volume stays small for any input size, and the flow
is scaled back), then **local** correlations at finer levels, each after warping the source by the
flow of the level above. Choose where **GOCor** replaces the feature correlation and how each
level reads its flow from the volume. Colours: direction (see the wheel), saturation: length."""


@dataclass
class FlowComponents(_Filled):
    """The components a :class:`~explorer.handlers.FlowScreen` fills, by the same names."""

    view: gr.State
    flow_status: gr.Markdown
    flow: gr.Image
    flow_legend: gr.Image
    warped: gr.Image
    flow_error: gr.Image
    flow_levels: gr.Image

    def show(self, screen: FlowScreen) -> dict[Any, Any]:
        return self._updates(screen, screen.flow_status)


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


def _image(label: str, elem_id: str, value: np.ndarray | None) -> gr.Image:
    """A picture the server draws; its title is drawn in it or written above it."""
    return gr.Image(
        value=value,
        label=label,
        show_label=False,
        elem_id=elem_id,
        format="jpeg",
        type="numpy",
        interactive=False,
        buttons=["fullscreen"],
    )


def build(explorer: Explorer | None = None) -> gr.Blocks:
    """The page, with the first bundled pair computed and a pixel selected."""
    explorer = explorer or Explorer()
    first = explorer.start()
    settings = first.view.settings
    kinds = synthetic_kinds()

    # Uploaded files are deleted after a day (checked hourly).
    with gr.Blocks(
        title="GOCor explorer", analytics_enabled=False, delete_cache=(3600, 86400)
    ) as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                with gr.Row():
                    with gr.Column(min_width=240):
                        gr.Markdown("### Target image: click a pixel")
                        target = _image("target image", "target", first.target)
                    with gr.Column(min_width=240):
                        gr.Markdown("### Source image (◯ true match)")
                        source = _image("source image", "source", first.source)
                status = gr.Markdown(first.status, elem_id="status")
                with gr.Row(equal_height=True):
                    iteration = gr.Slider(
                        0,
                        max(settings.num_iter, 1),
                        step=1,
                        value=first.view.iteration,
                        elem_id="iteration",
                        label="GOCor iteration shown in the panels",
                        scale=2,
                    )
                    colour_scale = gr.Radio(
                        list(render.COLOUR_SCALES),
                        value=first.view.colour_scale,
                        label="colour scale",
                        scale=1,
                        elem_id="colour-scale",
                    )
                colour_bar = gr.Image(
                    first.colour_bar,
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
                    gr.Markdown("Bundled pairs (target | source): click one.")
                    gallery = gr.Gallery(
                        value=[(_thumbnail(name), name) for name in example_names()],
                        label="Bundled pairs (target | source): click one",
                        show_label=False,
                        columns=1,
                        allow_preview=False,
                        height="auto",
                        object_fit="contain",
                        elem_id="gallery",
                    )
                    example = gr.Dropdown(
                        example_names(),
                        value=example_names()[0],
                        label="or choose by name",
                        elem_id="example",
                    )
                with gr.Tab("Upload"):
                    gr.Markdown(
                        "Any size (scaled to the working resolution), PNG, JPEG, TIFF, "
                        "grey, RGBA or 16-bit."
                    )
                    target_file = gr.File(
                        label="target image", file_types=["image"], elem_id="target-file"
                    )
                    source_file = gr.File(
                        label="source image", file_types=["image"], elem_id="source-file"
                    )
                    upload_button = gr.Button("Use these images", variant="primary")
                with gr.Tab("Synthetic"):
                    gr.Markdown(
                        "Warp one image with a random transformation: the ground truth "
                        "is then known. Leave the file empty to warp the current target."
                    )
                    synthetic_file = gr.File(label="image (optional)", file_types=["image"])
                    seed = gr.Number(value=0, precision=0, label="random seed")
                    kind = gr.Dropdown(
                        kinds,
                        value=kinds[0] if kinds else None,
                        label="kind of warp",
                        visible=bool(kinds),
                    )
                    synthetic_button = gr.Button("Make a synthetic pair", variant="primary")
                with gr.Accordion(
                    "Settings: features, resolution, iterations, GOCor variant, weights",
                    open=False,
                    elem_id="settings",
                ):
                    features = gr.Dropdown(
                        extractor_names(), value=settings.features, label="features"
                    )
                    normalization = gr.Dropdown(
                        list(NORMALIZATIONS),
                        value=settings.normalization,
                        label="feature normalisation",
                        info="centered-l2 removes what all cells share: GOCor needs it",
                    )
                    working_size = gr.Dropdown(
                        list(WORKING_SIZES),
                        value=settings.working_size,
                        label="working resolution (longer side, px)",
                    )
                    search_radius = gr.Slider(
                        1,
                        MAX_RADIUS,
                        step=1,
                        value=settings.search_radius,
                        label="local search radius R (cells)",
                    )
                    num_iter = gr.Slider(
                        0,
                        MAX_ITERATIONS,
                        step=1,
                        value=settings.num_iter,
                        label="GOCor iterations K",
                    )
                    initializer = gr.Dropdown(
                        list(INITIALIZERS), value=settings.initializer, label="GOCor initialiser"
                    )
                    gocor_parameters = gr.Radio(
                        list(GOCOR_PARAMETERS),
                        value=settings.gocor_parameters,
                        label="GOCor parameters (without a checkpoint file)",
                    )
                    query_loss = gr.Checkbox(
                        value=settings.query_loss, label="global GOCor: query loss (slow, ~10 s)"
                    )
                    local_centre = gr.Radio(
                        list(LOCAL_CENTRES),
                        value=settings.local_centre,
                        label="local windows centred on",
                    )
                    recompute = gr.Button("Recompute", variant="primary")
                    gr.Markdown(
                        "**Weights files you have.** The authors' GLU-Net-GOCor checkpoint holds "
                        "GOCor's trained parameters (for 512-channel VGG-16 features: choose the "
                        "`official-glunet-gocor` features and use the same file for them); a "
                        "VGG-16 file serves the `vgg16` features."
                    )
                    weights_file = gr.File(
                        label="weights file (.pth, .pt)", file_types=[".pth", ".pt", ".tar"]
                    )
                    with gr.Row():
                        weights_button = gr.Button("GOCor from this file")
                        feature_weights_button = gr.Button("Features from this file")
                        initial_button = gr.Button("No weights files")
        gr.Markdown(
            "### Where each method puts the match of the clicked pixel, over the source image"
        )
        with gr.Row():
            local_correlation = _image(
                "local correlation", "local-correlation", first.local_correlation
            )
            global_correlation = _image(
                "global correlation", "global-correlation", first.global_correlation
            )
            gocor_global = _image("GOCor global", "gocor-global", first.gocor_global)
            gocor_local = _image("GOCor local", "gocor-local", first.gocor_local)
        table = gr.Markdown(first.table, elem_id="table")
        gr.Markdown(
            "### Why GOCor works: the paper's Fig. 1 for this pixel\n"
            "Top: the pixel's filter scored on the **target** image itself, which GOCor fits to a "
            "single peak at the pixel. Bottom: the same filter on the **source** image. Columns: "
            "plain correlation, then GOCor iterations 0..K (framed: the iteration above)."
        )
        strip = _image("iterations", "strip", first.strip)
        with gr.Row():
            losses = _image("GOCor losses per iteration", "losses", first.losses)
            functions = _image("learned y, v, m", "functions", first.functions)
        with gr.Accordion(
            "The flow of the whole pair: GLU-Net in miniature, coarse to fine (open to compute)",
            open=False,
            elem_id="flow-view",
        ) as flow_section:
            gr.Markdown(FLOW_INTRO)
            with gr.Row():
                flow_variant = gr.Radio(
                    list(FLOW_VARIANTS),
                    value=next(iter(FLOW_VARIANTS)),
                    label="GOCor variant (where GOCor replaces the feature correlation)",
                    elem_id="flow-variant",
                )
                flow_estimator = gr.Radio(
                    list(FLOW_ESTIMATORS),
                    value=next(iter(FLOW_ESTIMATORS)),
                    label="estimator (learned decoders: when trained for these features)",
                    elem_id="flow-estimator",
                )
            flow_status = gr.Markdown(
                "Open this section to compute the flow.", elem_id="flow-status"
            )
            with gr.Row(equal_height=False):
                flow_image = _image("flow", "flow", None)
                with gr.Column(scale=0, min_width=200):
                    flow_legend = gr.Image(
                        render.flow_legend(),
                        show_label=False,
                        interactive=False,
                        format="png",
                        container=False,
                        buttons=[],
                        elem_id="flow-legend",
                    )
                warped = _image("source warped onto the target", "warped", None)
                flow_error = _image("endpoint error", "flow-error", None)
            flow_levels = _image("every level", "flow-levels", None)
        # A plain endpoint for scripts and tests: gradio_client cannot send select events.
        api_x = gr.Number(visible=False)
        api_y = gr.Number(visible=False)
        api_button = gr.Button(visible=False)

        ui = Components(
            view=gr.State(first.view),
            status=status,
            target=target,
            source=source,
            local_correlation=local_correlation,
            global_correlation=global_correlation,
            gocor_global=gocor_global,
            gocor_local=gocor_local,
            strip=strip,
            table=table,
            colour_bar=colour_bar,
            losses=losses,
            functions=functions,
            iteration=iteration,
            example=example,
        )
        outputs = ui.outputs()
        flow_ui = FlowComponents(
            view=ui.view,
            flow_status=flow_status,
            flow=flow_image,
            flow_legend=flow_legend,
            warped=warped,
            flow_error=flow_error,
            flow_levels=flow_levels,
        )
        flow_open = gr.State(False)  # whether this session's flow section is open
        setting_controls = [
            features,
            normalization,
            working_size,
            search_radius,
            num_iter,
            initializer,
            query_loss,
            local_centre,
            gocor_parameters,
        ]

        # -- handlers: unpack the event, call one action, show its screen ---------------------
        def on_select(view: View | None, event: gr.SelectData) -> dict[Any, Any]:
            x, y = event.index if isinstance(event.index, list | tuple) else (None, None)
            return ui.show(explorer.click_displayed(view, x, y))

        def on_pixel(x: float, y: float, view: View | None) -> dict[Any, Any]:
            return ui.show(explorer.click(view, x, y))

        def on_iteration(view: View | None, value: float) -> dict[Any, Any]:
            return ui.show(explorer.set_iteration(view, value))

        def on_colour_scale(view: View | None, value: str) -> dict[Any, Any]:
            return ui.show(explorer.set_colour_scale(view, value))

        def on_example(
            view: View | None,
            name: str,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> dict[Any, Any]:
            return ui.show(explorer.choose_example(view, name, _reporter(progress)))

        def on_gallery(
            view: View | None,
            event: gr.SelectData,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> dict[Any, Any]:
            names, index = example_names(), event.index
            name = names[index] if isinstance(index, int) and 0 <= index < len(names) else ""
            return ui.show(explorer.choose_example(view, name, _reporter(progress)))

        def on_upload(
            view: View | None,
            target_path: str | None,
            source_path: str | None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> dict[Any, Any]:
            return ui.show(
                explorer.upload_pair(view, target_path, source_path, _reporter(progress))
            )

        def on_synthetic(
            view: View | None,
            image_path: str | None,
            seed_value: float,
            kind_value: str | None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> dict[Any, Any]:
            return ui.show(
                explorer.make_synthetic(
                    view, image_path, seed_value or 0, kind_value, _reporter(progress)
                )
            )

        def on_settings(
            view: View | None,
            *values: Any,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> dict[Any, Any]:
            names = [
                "features",
                "normalization",
                "working_size",
                "search_radius",
                "num_iter",
                "initializer",
                "query_loss",
                "local_centre",
                "gocor_parameters",
            ]  # setting_controls' order
            return ui.show(
                explorer.apply_settings(
                    view, dict(zip(names, values, strict=True)), _reporter(progress)
                )
            )

        def on_weights(
            view: View | None,
            path: str | None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> dict[Any, Any]:
            return ui.show(explorer.use_weights(view, path, _reporter(progress)))

        def on_feature_weights(
            view: View | None,
            path: str | None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> dict[Any, Any]:
            return ui.show(explorer.use_feature_weights(view, path, _reporter(progress)))

        def on_initial(view: View | None, progress: gr.Progress = gr.Progress()) -> dict[Any, Any]:  # noqa: B008
            return ui.show(explorer.reset_weights(view, _reporter(progress)))

        def on_flow_open(
            view: View | None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> dict[Any, Any]:
            return {**flow_ui.show(explorer.show_flow(view, _reporter(progress))), flow_open: True}

        def on_flow_follow(
            view: View | None,
            is_open: bool,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> dict[Any, Any]:
            """After a new pair or new settings: the flow again, if the section is open."""
            if not is_open:  # (an empty dict would not do: Gradio reads it as one value)
                return flow_ui.unchanged()
            return flow_ui.show(explorer.show_flow(view, _reporter(progress)))

        def on_flow_choice(
            view: View | None,
            variant: str,
            estimator: str,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> dict[Any, Any]:
            return flow_ui.show(explorer.choose_flow(view, variant, estimator, _reporter(progress)))

        # -- wiring ---------------------------------------------------------------------------
        # Every event shares one queue slot: a click waits for a recomputation and then sees
        # its result; the pipeline's caches are never used by two events at once.
        def on(
            trigger: Any,
            handler: Any,
            inputs: list[Any],
            api_name: str | None = None,
            **options: Any,
        ) -> None:
            dependency = trigger(
                handler,
                inputs,
                outputs,
                concurrency_id="explorer",
                concurrency_limit=1,
                api_name=api_name,
                api_visibility="public" if api_name else "private",
                **options,
            )
            if handler in new_pair_or_settings:  # keep an open flow view up to date
                dependency.then(
                    on_flow_follow,
                    [ui.view, flow_open],
                    flow_ui.outputs(),
                    concurrency_id="explorer",
                    concurrency_limit=1,
                    api_visibility="private",
                )

        new_pair_or_settings = {
            on_example,
            on_gallery,
            on_upload,
            on_synthetic,
            on_settings,
            on_weights,
            on_feature_weights,
            on_initial,
        }

        state = ui.view
        on(target.select, on_select, [state], trigger_mode="always_last")
        on(api_button.click, on_pixel, [api_x, api_y, state], "select_pixel")
        on(
            iteration.input,
            on_iteration,
            [state, iteration],
            "set_iteration",
            trigger_mode="always_last",
        )
        on(colour_scale.input, on_colour_scale, [state, colour_scale], "set_colour_scale")
        on(example.input, on_example, [state, example], "choose_example")
        on(gallery.select, on_gallery, [state])
        on(upload_button.click, on_upload, [state, target_file, source_file], "upload_pair")
        on(
            synthetic_button.click,
            on_synthetic,
            [state, synthetic_file, seed, kind],
            "make_synthetic",
        )
        on(recompute.click, on_settings, [state, *setting_controls], "apply_settings")
        for control in setting_controls:
            trigger = getattr(control, "release" if isinstance(control, gr.Slider) else "input")
            on(trigger, on_settings, [state, *setting_controls], trigger_mode="always_last")
        on(weights_button.click, on_weights, [state, weights_file], "use_weights")
        on(
            feature_weights_button.click,
            on_feature_weights,
            [state, weights_file],
            "use_feature_weights",
        )
        on(initial_button.click, on_initial, [state])

        # The flow view: computed when its section opens, and again after a new pair or new
        # settings while it is open (cached per pair, settings and choice).
        def on_flow(trigger: Any, handler: Any, inputs: list[Any], **options: Any) -> None:
            trigger(
                handler,
                inputs,
                [*flow_ui.outputs(), flow_open],
                concurrency_id="explorer",
                concurrency_limit=1,
                **options,
            )

        on_flow(flow_section.expand, on_flow_open, [state], api_visibility="private")
        flow_section.collapse(lambda: False, None, flow_open, api_visibility="private", queue=False)
        for control in (flow_variant, flow_estimator):
            on_flow(
                control.input,
                on_flow_choice,
                [state, flow_variant, flow_estimator],
                api_name="choose_flow" if control is flow_variant else None,
                api_visibility="public" if control is flow_variant else "private",
            )

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
