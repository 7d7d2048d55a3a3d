# SPDX-License-Identifier: MIT
"""The network view's part of the page (Gradio layout only): which GLU-Net network runs, its
weights file, the flow of the whole pair with every level's flow, and every level's scores for
the clicked pixel. :func:`explorer.app.build` places it and wires its events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from explorer import render
from explorer.handlers import Screen
from explorer.network_view import NETWORKS

INTRO = """The whole pair through a **GLU-Net network**, the paper's architecture: a **global**
level on both images shrunk to 256×256 (16×16 cells, so its volume stays small for any input
size), then **local** levels at finer resolutions, each after warping the source by the flow of
the level above, with learned decoders that read each volume and the upsampled flow. Choose
the network: this project's own, on XFeat's pretrained features, trained here with GOCor inside
(GLU-Net-GOCor) or with feature correlation (GLU-Net), or the authors' released GLU-Net or
GLU-Net-GOCor from a weights file you have (nothing is downloaded). Colours of the flow:
direction (see the wheel), saturation: length."""

LEVELS_NOTE = """### What each level of the network sees at the clicked pixel
One row per level, coarse to fine; one map per GOCor iteration (a GOCor level) or the feature
correlation (a correlation level), over the **source** image. ✚ each map's best score, ◯ the
true match where it is known, ◆ where this level's flow sends the pixel, ⬚ the local window
after warping (each of its entries is drawn on the source cell it reads). Click the target
image above to move the pixel."""


@dataclass
class NetworkSection:
    """The components of the network view."""

    section: gr.Accordion
    network: gr.Radio
    network_file: gr.File
    flow_status: gr.Markdown
    flow: gr.Image
    warped: gr.Image
    flow_error: gr.Image
    flow_levels: gr.Image
    network_levels: gr.Image


def network_section(first: Screen, image: Callable[[str, str, Any], gr.Image]) -> NetworkSection:
    """The section, closed (it computes when opened), showing the first screen's choice;
    ``image(label, elem_id, value)`` makes each picture as the rest of the page does."""
    with gr.Accordion(
        "The network, level by level: GLU-Net's flow of the whole pair, and what each level "
        "sees at the clicked pixel (open to compute)",
        open=False,
        elem_id="flow-view",
    ) as section:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            network = gr.Radio(
                list(NETWORKS),
                value=first.view.network.label,
                label="network",
                elem_id="network",
                scale=2,
            )
            network_file = gr.File(
                label="the authors' weights file (GLUNet_*.pth, GLUNet_GOCor_*.pth; "
                ".pth, .pt or .tar)",
                file_types=[".pth", ".pt", ".tar"],
                elem_id="network-file",
                scale=1,
            )
        flow_status = gr.Markdown(
            first.flow_status if isinstance(first.flow_status, str) else "",
            elem_id="flow-status",
            label="flow status",
        )
        with gr.Row(equal_height=False):
            flow = image("flow", "flow", None)
            with gr.Column(scale=0, min_width=200):
                gr.Image(
                    render.flow_legend(),
                    show_label=False,
                    interactive=False,
                    format="png",
                    container=False,
                    buttons=[],
                    elem_id="flow-legend",
                )
            warped = image("source warped onto the target", "warped", None)
            flow_error = image("endpoint error", "flow-error", None)
        flow_levels = image("every level's flow", "flow-levels", None)
        gr.Markdown(LEVELS_NOTE)
        network_levels = image("every level's scores", "network-levels", None)
    return NetworkSection(
        section=section,
        network=network,
        network_file=network_file,
        flow_status=flow_status,
        flow=flow,
        warped=warped,
        flow_error=flow_error,
        flow_levels=flow_levels,
        network_levels=network_levels,
    )
