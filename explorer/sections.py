# SPDX-License-Identifier: MIT
"""The page's sections on matching rules, confidence, export and links (layer: page): Gradio
layout and wiring only (what they show is drawn by :mod:`explorer.rules_render` and written by
:mod:`explorer.export_files`, declared in :mod:`explorer.outputs`; :mod:`explorer.app` places
them).

* :func:`rules_layout`: every rule's map for the clicked pixel and what each rule does;
* :func:`confidence_layout`: a confidence measure over the target and the matches it keeps;
* :func:`export_layout`: download buttons, each for a file of what is shown now;
* the link (the output ``link``): the view as a query string, which a browser-side script
  writes into the page's address (:data:`LINK_SCRIPT`); the page reads it back on load
  (:meth:`explorer.handlers.Explorer.open_link`);
* :func:`wire`: their events, and the named API endpoints that return data
  (``/score_maps``, ``/flow``, ``/matches``, ``/rule_scores``, ``/pictures``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from explorer import explanations
from explorer.analysis import EXPLORER_RULES
from explorer.link import QUERY_KEYS
from explorer.outputs import Screen
from explorer.page import Page
from explorer.state import KEEP, Session
from explorer.wiring import COMPUTE, Wiring, api_input, reporter

log = logging.getLogger(__name__)

RULES_INTRO = f"""### Every matching rule on this pixel: how networks read a match from one volume
The same global correlation of the same features, read by each of the {len(EXPLORER_RULES)}
rules of `gocor_lite.reading.rules`, and GOCor's own volume read by its argmax. Each map has its own
colours (scores, probabilities or transported mass); ✚: where the rule's match lands (◆ for the
soft-argmax: its expectation, between cells), ◯: the true match.
The table beside the four panels above gives each rule's accuracy over the **whole** pair, so
that one pixel does not stand for a method."""

CONFIDENCE_INTRO = """### How sure is each match? Confidence over the target
A measure of how sure each target cell's match is, and its matches with the least confident
ones hidden. Where the truth is known the line below says whether the hidden ones were the
wrong ones."""

EXPORT_INTRO = """Files of what the page shows now (each is written for the current view, and
cleared when the view changes). Positions are at the working resolution. **Score maps**: a
`(K, h', w')` float32 array over the source cells, NaN where a method gives no score; the
order of its K maps is listed below. **Matches**: one row per kept match, `target_x,
target_y, source_x, source_y, confidence` in pixels (cell centres; the confidence view's
measure, higher is surer: minus the forward-backward error). **Flow**: the flow view's
`(2, H, W)` flow, x then y (open the flow view first). **Pictures**: every picture of the view
as PNG, in one zip (made when asked: PNG takes a second or two)."""

# Runs in the browser when the view changes: the page's address gets the view's query (keys
# of explorer.link; other parameters are kept), without a new entry in the history.
LINK_SCRIPT = (
    "(query) => {"
    f" const keys = {json.dumps(list(QUERY_KEYS))};"
    " const url = new URL(window.location.href);"
    " for (const key of keys) url.searchParams.delete(key);"
    " for (const [key, value] of new URLSearchParams(query || ''))"
    " url.searchParams.set(key, value);"
    " window.history.replaceState(window.history.state, '', url);"
    " return []; }"
)


def rules_layout(page: Page) -> None:
    """The rules panel (call inside ``gr.Blocks``)."""
    gr.Markdown(RULES_INTRO, elem_id="rules-intro")
    page.place("rules")
    lines = [f"**{name}**: {text}" for name, text in explanations.RULES.items()]
    gr.Markdown("\n\n".join(lines), elem_id="rules-help", elem_classes=["help"])


def confidence_layout(page: Page) -> None:
    """The confidence view's controls, two pictures and its status line."""
    gr.Markdown(CONFIDENCE_INTRO, elem_id="confidence-intro")
    with gr.Row(equal_height=True):
        page.place("confidence controls")
    with gr.Row():
        page.place("confidence")
    page.place("confidence status")


def export_layout(page: Page) -> None:
    """The download buttons (each disabled while its file cannot be made for this view)."""
    gr.Markdown(EXPORT_INTRO)
    with gr.Row():
        page.place("downloads")
    with gr.Row():
        page.control(
            "pictures_button",
            gr.Button("Make the pictures (PNG)", size="sm", elem_id="make-pictures"),
        )
        page.place("pictures download")
    gr.Markdown(
        "Score maps, in order (K: the GOCor iterations): 0 local correlation; 1 global "
        "correlation; 2 to K + 2 global GOCor at iterations 0 to K; K + 3 local GOCor at the "
        "shown iteration; then each rule's own map: the softmax probability (read by soft-argmax "
        "and softmax), dual-softmax, cyclic consistency, Sinkhorn's transported mass. The "
        "`/score_maps` endpoint returns their names with them.",
        elem_id="score-map-names",
    )


# -- wiring ----------------------------------------------------------------------------------------
def wire(wiring: Wiring) -> None:
    """The confidence controls, the pictures button, the link, and the data endpoints."""
    explorer, page = wiring.explorer, wiring.page
    controls: list[Any] = list(page.confidence_choice)
    for control in controls:
        trigger = control.release if isinstance(control, gr.Slider) else control.input
        wiring.on(trigger, explorer.set_confidence, controls, "confidence")
    named = dict(zip(("volume", "measure", "hidden_percent"), controls, strict=True))
    wiring.api("set_confidence", explorer.set_confidence, named, heavy=False, event="confidence")
    wiring.on(page.pictures_button.click, explorer.export_pictures, [])
    page.link.change(None, [page.link], None, js=LINK_SCRIPT, api_visibility="private")
    _wire_data(wiring)


def _wire_data(wiring: Wiring) -> None:
    """Endpoints that return what the page shows as data (files and JSON), each computing
    what it needs first: one call, one answer. A refused input returns no data and the reason
    in the status."""
    explorer = wiring.explorer
    x, y = gr.Number(visible=False), gr.Number(visible=False)
    maps = gr.File(visible=False, label="score maps file (.npy)")
    names = gr.JSON(visible=False, label="score map names")
    data(
        wiring,
        "score_maps",
        explorer.click,
        {"x": x, "y": y},
        {"score_maps_file": maps},
        names,
        explorer.score_map_names,
    )
    flo = gr.File(visible=False, label="flow file (.flo)")
    npy = gr.File(visible=False, label="flow file (.npy)")
    data(
        wiring,
        "flow",
        explorer.open_flow,
        {},
        {"flow_npy_file": npy, "flow_flo_file": flo},
    )
    volume, measure = gr.Textbox(visible=False), gr.Textbox(visible=False)
    hidden = gr.Number(visible=False)
    csv = gr.File(visible=False, label="matches file (.csv)")
    data(
        wiring,
        "matches",
        explorer.set_confidence,
        {"volume": volume, "measure": measure, "hidden_percent": hidden},
        {"matches_file": csv},
    )
    scores = gr.JSON(visible=False, label="whole-image scores")
    data(
        wiring,
        "rule_scores",
        explorer.current,
        {},
        {},
        scores,
        explorer.whole_image_scores,
    )
    archive = gr.File(visible=False, label="pictures file (.zip)")
    data(
        wiring,
        "pictures",
        _after_computing(wiring, explorer.export_pictures),
        {},
        {"pictures_file": archive},
    )


def _after_computing(wiring: Wiring, action: Callable[[Session], Screen]) -> Any:
    """``action`` once the session's view is computed (the pictures need its maps)."""
    explorer = wiring.explorer

    def act(session: Session) -> Screen:
        if explorer.pending(session):
            explorer.fulfil(session)
        return action(session)

    return act


def data(
    wiring: Wiring,
    name: str,
    action: Callable[..., Screen],
    inputs: dict[str, Any],
    fields: dict[str, Any],
    extra: Any = None,
    make_extra: Callable[[Session], Any] | None = None,
) -> None:
    """A named endpoint: ``action`` (its arguments ``inputs``, by their names in the API), then
    the computation it needs, then the screen fields ``fields`` (name -> a hidden component)
    and ``make_extra(session)`` into ``extra``."""
    explorer, page = wiring.explorer, wiring.page
    outputs = [page.session, page.status, *fields.values()] + ([extra] if extra else [])

    names = list(inputs)

    def handler(
        session: Session | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
        **values: Any,
    ) -> dict[Any, Any]:
        session = wiring.session(session)
        answer: dict[Any, Any] = {page.session: session}
        try:
            session.forget(set(fields))  # always sent: the caller has no page that shows them
            screen = action(session, *(values[name] for name in names))
            if screen.compute or explorer.pending(session):
                screen = screen.merged(explorer.fulfil(session, reporter(progress)))
        except Exception:
            log.exception("unexpected error in the %s endpoint", name)
            answer[page.status] = (
                "⚠️ **something went wrong on the server (the error is in its log)**"
            )
            return answer
        answer[page.status] = screen.status
        for field, component in fields.items():
            value = getattr(screen, field)
            answer[component] = None if screen.warning or value is KEEP else value
        if extra is not None and make_extra is not None:
            answer[extra] = None if screen.warning else make_extra(session)
        return answer

    gr.Button(visible=False).click(
        handler,
        [page.session],
        outputs,
        inputs_kwargs={key: api_input(key, control) for key, control in inputs.items()},
        concurrency_id=COMPUTE,
        concurrency_limit=1,
        api_name=name,
        api_visibility="public",
    )
