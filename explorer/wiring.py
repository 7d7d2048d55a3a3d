# SPDX-License-Identifier: MIT
"""How the page's events are wired (layer: page): every event calls one action of
:class:`explorer.handlers.Explorer` in the ``"actions"`` group and shows the screen it returns
(only the outputs the event reaches: :func:`explorer.outputs.reach`); an action that needs a
computation changes the session's *ticket*, whose change event computes in the ``"compute"``
group (:func:`wire_computation`); API endpoints do both in one call.

Select events (a click on the target image, on a gallery thumbnail) are sent on every click
(``trigger_mode="multiple"``: Gradio's ``"always_last"`` sends the event it deferred with the
data of the *first* one), numbered in the browser (:data:`EVENT_NUMBER`); each applies its
click to the view if it is the newest so far (:class:`Selects`), and one event per page, the
redraw (:meth:`Wiring.redraw`), draws what they changed.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

import gradio as gr

from explorer import outputs
from explorer.handlers import Explorer
from explorer.outputs import Screen
from explorer.page import Page
from explorer.state import Session

log = logging.getLogger(__name__)
ACTIONS = "actions"  # the concurrency group of the actions (cheap: slicing and drawing)
ACTIONS_AT_ONCE = 2  # actions of different sessions served at the same time (2 cores)
COMPUTE = "compute"  # the concurrency group of the computations (one at a time: 2 cores)

# Runs in the browser before a select event is sent: its last input becomes the event's number
# in this page (1, 2, ...), so that the server knows which click came last.
EVENT_NUMBER = (
    "(...values) => { window.__explorerEvents = (window.__explorerEvents || 0) + 1;"
    " return [...values.slice(0, -1), window.__explorerEvents]; }"
)


def api_input(name: str, control: Any) -> Any:
    """What an API parameter reads: a control with a range or a list of choices (a slider, a
    number box, radio buttons) is read as plain JSON instead, so that a value out of range
    reaches the action, which refuses it in a sentence (Gradio's own check answered with a
    generic error and a traceback in the console); files and the rest as they are."""
    if isinstance(control, gr.Slider | gr.Number | gr.Radio | gr.Dropdown):
        return gr.JSON(visible=False, label=name)
    return control


_REDRAWS = itertools.count(1)  # values of the redraw states (each a change)


def reporter(progress: gr.Progress) -> Any:
    return lambda fraction, message: progress(fraction, desc=message)


class Selects:
    """The newest select event of each kind (a click on the target, on a gallery thumbnail)
    in each session: an event is applied only if it is newer than every one applied before
    (:data:`EVENT_NUMBER`), checked and applied under the session's lock, so that the view
    ends on the last click whatever order the events' handlers run in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._newest: weakref.WeakKeyDictionary[Session, dict[str, float]] = (
            weakref.WeakKeyDictionary()
        )
        self._due: weakref.WeakKeyDictionary[Session, set[str]] = weakref.WeakKeyDictionary()

    def due(self, session: Session, names: frozenset[str]) -> None:
        """These outputs are to be drawn by the session's next redraw."""
        with self._lock:
            self._due.setdefault(session, set()).update(names)

    def take(self, session: Session) -> frozenset[str]:
        """The outputs due, which a redraw now draws (none are due afterwards)."""
        with self._lock:
            return frozenset(self._due.pop(session, set()))

    def apply(
        self, session: Session, kind: str, number: Any, act: Callable[[], Screen]
    ) -> Screen | None:
        """``act()`` if event ``number`` is the newest of its ``kind`` so far (an event without
        a number, from a script, always is); ``None`` when a newer one was applied."""
        with session.lock:
            with self._lock:
                newest = self._newest.setdefault(session, {})
                if isinstance(number, int | float) and not isinstance(number, bool):
                    if number <= newest.get(kind, 0.0):
                        return None
                    newest[kind] = float(number)
            return act()


class Wiring:
    """How every event is wired: an action in the ``"actions"`` group, its screen shown, and
    a computation through the ticket when one is needed; API endpoints do both in one call.
    ``event``: which outputs an event may change (:func:`explorer.outputs.reach`; a click: only
    what the clicked cell shows; ``None``: all). The action computes only those, and the event
    lists only their components (fewer outputs, less work for Gradio: it rebuilds each output it
    leaves unchanged)."""

    def __init__(self, explorer: Explorer, page: Page):
        self.explorer = explorer
        self.page = page
        self.selects = Selects()
        self._redraw: gr.State | None = None  # the page's redraw (Wiring.redraw)

    def session(self, session: Session | None) -> Session:
        return session if isinstance(session, Session) else self.explorer.new_session()

    def on(
        self,
        trigger: Any,
        action: Callable[..., Screen],
        inputs: list[Any],
        event: str | None = None,
    ) -> None:
        """A control's event: the action, quick, in the actions group (nothing to wait for)."""

        def handler(session: Session | None, *values: Any) -> dict[Any, Any]:
            return self.show(session, lambda session: action(session, *values), event)

        self._wire(trigger, handler, inputs, event)

    def on_select(
        self,
        kind: str,
        trigger: Any,
        action: Callable[[Session, Any], Screen],
        event: str | None = None,
    ) -> None:
        """A select event (a click on an image or a gallery): the action gets its index. Every
        click is sent, numbered in the page (:data:`EVENT_NUMBER`), and changes the session's
        view only if it is the newest so far (:class:`Selects`); its answer draws nothing but
        asks for a redraw of the outputs ``event`` reaches (:meth:`redraw`)."""
        page, redraw = self.page, self.redraw()
        reach = outputs.reach(event)

        def handler(session: Session | None, number: Any, data: gr.SelectData) -> dict[Any, Any]:
            session = self.session(session)
            try:
                screen = self.selects.apply(
                    session,
                    kind,
                    number,
                    lambda: self.act(frozenset(), lambda: action(session, data.index)),
                )
            except Exception:
                return self.failed(session)
            answer: dict[Any, Any] = {page.session: session}
            if screen is None:
                return answer  # a newer click was applied: its redraw shows it
            self.selects.due(session, reach)
            answer[redraw] = next(_REDRAWS)
            if screen.compute:
                answer[page.ticket] = session.generation
            if screen.warning:
                answer.update(page.updates(screen, session, frozenset()))
            return answer

        trigger(
            handler,
            [page.session, gr.Number(visible=False)],  # the number: EVENT_NUMBER
            [page.session, redraw, page.ticket, page.status],
            js=EVENT_NUMBER,
            concurrency_id=ACTIONS,
            concurrency_limit=ACTIONS_AT_ONCE,
            trigger_mode="multiple",
            show_progress="hidden",
            api_visibility="private",
        )

    def redraw(self) -> gr.State:
        """The page's redraw state: each change draws the outputs due (:meth:`Selects.due`)
        from the session's view when it runs. It is the only event that draws what select
        events change, and Gradio runs it one at a time per page
        (``trigger_mode="always_last"``: a change while it runs runs once, after it), so that
        its answers reach the page in the order they were drawn, and the last one is drawn
        after the last click was applied. A computation's answer (drawn from the view of its
        end) is followed by one too (:func:`wire_computation`)."""
        if self._redraw is not None:
            return self._redraw
        page = self.page
        self._redraw = redraw = gr.State(0)

        def draw(session: Session | None) -> dict[Any, Any]:
            session = self.session(session)
            due = self.selects.take(session)
            return self.show(session, self.explorer.current, due)

        redraw.change(
            draw,
            [page.session],
            page.components(),
            concurrency_id=ACTIONS,
            concurrency_limit=ACTIONS_AT_ONCE,
            trigger_mode="always_last",
            show_progress="hidden",
            api_visibility="private",
        )
        return redraw

    def show(
        self,
        session: Session | None,
        act: Callable[[Session], Screen],
        event: str | frozenset[str] | None = None,
        ticket: bool = True,
    ) -> dict[Any, Any]:
        """The updates of an action's screen (the outputs ``event`` reaches); an error here is
        logged, never shown as a stack trace (the actions themselves turn errors into
        messages)."""
        session = self.session(session)
        reach = outputs.reach(event) if event is not None else None
        try:
            screen = self.act(event, lambda: act(session))
            return self.page.updates(screen, session, reach, ticket)
        except Exception:
            return self.failed(session)

    @staticmethod
    def act(event: str | frozenset[str] | None, act: Callable[[], Screen]) -> Screen:
        """``act()`` computing only the outputs that ``event`` reaches."""
        with outputs.reaching(event):
            return act()

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
        event: str | None,
    ) -> None:
        trigger(
            handler,
            [self.page.session, *inputs],
            self.page.components(outputs.reach(event) if event is not None else None),
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
        event: str | None = None,
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
                    screen = screen.merged(explorer.fulfil(session, reporter(progress)))
                return screen

            return self.show(session, act, event, ticket=False)

        gr.Button(visible=False).click(
            handler,
            [self.page.session],
            # an API call computes in itself
            self.page.components(outputs.reach(event) if event else None, ticket=False),
            inputs_kwargs={name: api_input(name, control) for name, control in inputs.items()},
            concurrency_id=COMPUTE if heavy else ACTIONS,
            concurrency_limit=1 if heavy else ACTIONS_AT_ONCE,
            api_name=name,
            api_visibility="public",
        )


def wire_computation(wiring: Wiring) -> None:
    """The ticket: each change computes what the session's view needs, one at a time."""
    explorer, page, redraw = wiring.explorer, wiring.page, wiring.redraw()

    def fulfil(
        session: Session | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> dict[Any, Any]:
        return wiring.show(session, lambda session: explorer.fulfil(session, reporter(progress)))

    computed = page.ticket.change(
        fulfil,
        [page.session],
        page.components(),
        concurrency_id=COMPUTE,
        concurrency_limit=1,
        trigger_mode="always_last",
        show_progress="full",
        show_progress_on=page.progress_targets(),
        api_visibility="private",
    )

    def refresh(session: Session | None) -> dict[Any, Any]:
        """After a computation's answer (drawn from the view of its end, and maybe sent after
        a newer redraw's): every select kind's redraw, from the view now."""
        session = wiring.session(session)
        drawn = outputs.reach("pixel") | {"example"}
        session.forget(set(drawn))
        wiring.selects.due(session, drawn)
        return {page.session: session, redraw: next(_REDRAWS)}

    computed.then(
        refresh,
        [page.session],
        [page.session, redraw],
        concurrency_id=ACTIONS,
        concurrency_limit=ACTIONS_AT_ONCE,
        show_progress="hidden",
        api_visibility="private",
    )
