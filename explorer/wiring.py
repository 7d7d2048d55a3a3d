# SPDX-License-Identifier: MIT
"""How the page's events are wired (layer: page): every event calls one action of
:class:`explorer.handlers.Explorer` in the ``"actions"`` group and shows the screen it returns
(only the outputs the event reaches: :func:`explorer.outputs.reach`); an action that needs a
computation changes the session's *ticket*, whose change event computes in the ``"compute"``
group (:func:`wire_computation`); API endpoints do both in one call.

Select events (a click on the target image, on a gallery thumbnail) are sent on every click
(``trigger_mode="multiple"``: Gradio's ``"always_last"`` sends the event it deferred with the
data of the *first* one), numbered in the browser (:data:`EVENT_NUMBER`); the handler that is
showing a session's selects shows the newest one when it is done, and one that arrives after a
newer one is dropped (:class:`Selects`).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
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


def reporter(progress: gr.Progress) -> Any:
    return lambda fraction, message: progress(fraction, desc=message)


AGAIN = object()  # a select kind's refresh: nothing to apply, its outputs drawn again


@dataclass
class _Newest:
    """The newest select event of one kind in one session."""

    number: float = 0.0  # its number in the page (EVENT_NUMBER)
    index: Any = None  # its data: the clicked pixel, the chosen thumbnail
    count: int = 0  # how many events were taken (a change: a newer one came)
    showing: bool = False  # whether a handler is showing this kind (it shows the newest)
    pending: bool = False  # whether ``index`` is still to be applied (a refresh applies none)


class Selects:
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
    screen = earlier.merged(later)
    screen.compute = earlier.compute or later.compute
    return screen


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
        # Each select kind's refresh (its handler, its outputs): run after every computation.
        self.refreshes: list[tuple[Callable[[Any], dict[Any, Any]], frozenset[str]]] = []

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
        again: frozenset[str] | None = None,
    ) -> None:
        """A select event (a click on an image or a gallery): the action gets its index. Every
        click is sent, numbered in the page; the newest of a ``kind`` is shown (Selects).
        After every computation the outputs ``again`` (default: those ``event`` reaches) are
        drawn again in turn with these events (a computation's answer may reach the page after
        theirs)."""
        selects = self.selects

        def shown(
            session: Session | None, number: Any, index: Any, shown_outputs: frozenset[str]
        ) -> dict[Any, Any]:
            session = self.session(session)
            if not selects.note(session, kind, number, index):
                return {self.page.session: session}  # shown by the handler showing its kind
            try:
                return selects.show(
                    session,
                    kind,
                    lambda index: self.act(event, lambda: action(session, index)),
                    lambda screen: self.page.updates(screen, session, shown_outputs),
                    lambda: self.act(event, lambda: self.explorer.current(session)),
                )
            except Exception:
                return self.failed(session)

        reach = outputs.reach(event)

        def handler(session: Session | None, number: Any, data: gr.SelectData) -> dict[Any, Any]:
            return shown(session, number, data.index, reach)

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
        event: str | None = None,
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
    def act(event: str | None, act: Callable[[], Screen]) -> Screen:
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
    explorer, page = wiring.explorer, wiring.page

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
