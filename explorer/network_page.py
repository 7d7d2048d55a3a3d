# SPDX-License-Identifier: MIT
"""The network view's part of the page (layer: page; Gradio layout only): which GLU-Net
weights file, the flow of the whole pair with every level's flow, and every level's scores for
the clicked pixel. :func:`explorer.app.build` places it and wires its events."""

from __future__ import annotations

import gradio as gr

from explorer import render
from explorer.page import Page

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


def network_section(page: Page) -> None:
    """The section, closed (it computes when opened), showing the first screen's choice."""
    with page.make("flow_section"):
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            page.place("network choice")
            page.control(
                "network_file",
                gr.File(
                    label="the authors' weights file (GLUNet_*.pth, GLUNet_GOCor_*.pth; "
                    ".pth, .pt or .tar)",
                    file_types=[".pth", ".pt", ".tar"],
                    elem_id="network-file",
                    scale=1,
                ),
            )
        page.place("network status")
        with gr.Row(equal_height=False):
            page.place("flow")
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
            page.place("flow results")
        page.place("flow levels")
        gr.Markdown(LEVELS_NOTE)
        page.place("network levels")
