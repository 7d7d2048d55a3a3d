# SPDX-License-Identifier: MIT
"""The page's components and what an event sends to them (layer: page), derived from the
outputs' registry (:mod:`explorer.outputs`): :meth:`Page.place` makes the components of a place
of the layout, :meth:`Page.updates` turns a :class:`~explorer.outputs.Screen` into Gradio
updates, :meth:`Page.components` lists an event's outputs."""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from explorer.export_files import Exports
from explorer.outputs import OUTPUTS, Screen
from explorer.state import KEEP, Session

JPEG_QUALITY = 85  # sharp enough for the text bands
SESSION_LIFETIME = 4 * 3600  # s: an idle API session's state is dropped after this
# This process's pictures, in Gradio's cache: deleted when it stops (as its exports are).
PICTURES_FOLDER = f"explorer-{os.getpid()}-{secrets.token_hex(4)}"
_ENCODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jpeg")  # Pillow frees the GIL


class Page:
    """Every component an event reads or writes: each output's components (by its name in
    :data:`~explorer.outputs.OUTPUTS`), the controls that are only inputs (buttons, files:
    :meth:`control`), the session, the ticket and the status. ``page.NAME`` is the component of
    an output or a control of that name."""

    def __init__(self, first: Screen, files: dict[str, str]):
        self.first, self.files = first, files  # the first screen, its pictures' files
        self.shown: dict[str, tuple[Any, ...]] = {}  # output -> its components
        self.inputs: dict[str, Any] = {}  # controls that are no output
        self.session = gr.State(None, time_to_live=SESSION_LIFETIME)
        self.ticket = gr.State(0)  # changes when a computation is asked for; its change computes
        self.status: Any = None  # the status under the images (made by the layout)

    def __getattr__(self, name: str) -> Any:
        shown, inputs = self.__dict__.get("shown", {}), self.__dict__.get("inputs", {})
        if name in shown:
            components = shown[name]
            return components[0] if len(components) == 1 else components
        if name in inputs:
            return inputs[name]
        raise AttributeError(name)

    def control(self, name: str, component: Any) -> Any:
        """Name a control that is an input only (e.g. a button)."""
        self.inputs[name] = component
        return component

    def make(self, name: str) -> Any:
        """The component(s) of one output, showing the first screen (inside ``gr.Blocks``)."""
        output = OUTPUTS[name]
        picture = output.kind == "picture"
        value = self.files.get(name) if picture else self.first.values.get(name)
        made = output.component(value)
        self.shown[name] = made if isinstance(made, tuple) else (made,)
        return made

    def place(self, place: str) -> list[Any]:
        """The components of every output declared at ``place``, in order."""
        return [self.make(name) for name, output in OUTPUTS.items() if output.place == place]

    def progress_targets(self) -> list[Any]:
        """Where a computation's progress shows: what it will fill."""
        waiting = [
            name
            for name, output in OUTPUTS.items()
            if output.needs in ("volumes", "flow") and output.kind == "picture"
        ]
        return [self.status, *(self.shown[name][0] for name in waiting), self.flow_status]

    def updates(
        self,
        screen: Screen,
        session: Session,
        reach: frozenset[str] | None = None,
        ticket: bool = True,
    ) -> dict[Any, Any]:
        """The changed outputs of a screen among those the event can ``reach`` (output names;
        ``None``: all); a changed output out of reach is forgotten by the session, so that a
        later event sends it. Pictures are written as files named after their pair
        (``<pair>.<output>.jpeg``); a warning also shows as a toast."""
        if screen.warning and isinstance(screen.status, str):  # a toast: plain text
            first = screen.status.removeprefix("⚠️").split("\n")[0].strip(" *")
            gr.Warning(re.sub(r"\\(.)", r"\1", first))
        updates: dict[Any, Any] = {self.session: session}
        if screen.status is not KEEP:
            updates[self.status] = screen.status
        if ticket and screen.compute:
            updates[self.ticket] = session.generation
        changed = {name for name in screen.values if name in self.shown}
        if reach is not None:
            session.forget(changed - reach)
            changed &= reach
        values = {name: screen.values[name] for name in changed}
        pictures = {name for name in values if OUTPUTS[name].kind == "picture"}
        drawn = {name: values[name] for name in pictures if isinstance(values[name], np.ndarray)}
        published = _publish(drawn, screen.label, self.shown["target"][0].GRADIO_CACHE)
        for name, value in values.items():
            if name in pictures:
                value = published.get(name)
            updates.update(OUTPUTS[name].updates(value, self.shown[name]))
        return updates

    def components(self, reach: frozenset[str] | None = None, ticket: bool = True) -> list[Any]:
        """The components of the outputs in ``reach`` (``None``: all) and the session, the
        status and, for the page's events, the ticket: every event writes those."""
        chosen = [self.session, self.ticket, self.status] if ticket else [self.session, self.status]
        for name, components in self.shown.items():
            if reach is None or name in reach:
                chosen += components
        return chosen


def publish_first(first: Screen, cache: str) -> dict[str, str]:
    """The first screen's pictures, written as files (the layout shows them)."""
    pictures = {
        name: value for name, value in first.values.items() if isinstance(value, np.ndarray)
    }
    return _publish(pictures, first.label, cache)


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


def remove_written(pictures: Path, exports: Exports) -> None:
    """Delete what this process wrote: its pictures and its exports (at exit)."""
    shutil.rmtree(pictures, ignore_errors=True)
    exports.remove()
