# SPDX-License-Identifier: MIT
"""The explorer's events, issue 22, in a real browser (Debian's Chromium through Playwright,
marked ``browser``): quick successive clicks on the target image or the gallery end on the
*last* one (marker, panels, status, link), and the server's part of it without a browser; the
gallery and the "choose by name" radio always show the pair the panels show; a slider's number
box applies on Enter and its arrow keys apply the slider; a link with ``flow=open`` opens the
network view."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from explorer.outputs import Screen
from explorer.state import Session
from explorer.wiring import Selects
from gocor_lite.data.examples import example_names
from tests.test_explorer_app import (
    PAIR_PICTURES,
    _checked,
    _marker_centre,
    _need_chromium,
    _sources,
    _wait_for_pair,
)
from tools.explorer_screenshot import browser_page, wait_for_flow

# The status line of the clicked pixel (explorer.handlers._status).
PIXEL = re.compile(
    r"Target pixel \((\d+), (\d+)\) of (\d+)×(\d+) → feature cell \((\d+), (\d+)\) of .*"
    r"\((\d+) px per cell\)"
)
MAIN_PICTURES = PAIR_PICTURES[:9]  # the pictures above the network view
CELL_PICTURES = ["global-correlation", "gocor-global", "rules-panel"]  # drawn for a cell
LOAD_MS = 120_000  # the first screen on a busy machine


@pytest.fixture
def page(url: str) -> Iterator[Any]:
    _need_chromium()
    with browser_page(url, timeout_ms=LOAD_MS) as page:
        yield page


def test_selects_apply_only_the_newest_event_and_redraw_what_is_due() -> None:
    """A select event is applied only if newer than every one applied before in its session
    and kind, whatever order the handlers run in; an event without a number (a script's) is
    always applied. What is due for the next redraw accumulates until a redraw takes it."""
    selects, session = Selects(), Session(None)  # type: ignore[arg-type]
    applied: list[str] = []

    def act(name: str) -> Any:
        return lambda: applied.append(name) or Screen(None, name)  # type: ignore[arg-type]

    assert selects.apply(session, "target", 2, act("second")) is not None
    assert selects.apply(session, "target", 1, act("first, late")) is None  # dropped
    assert selects.apply(session, "gallery", 1, act("a pair")) is not None  # another kind
    assert selects.apply(session, "target", 3, act("third")) is not None
    assert selects.apply(session, "target", None, act("a script's")) is not None
    assert applied == ["second", "a pair", "third", "a script's"]
    other = Session(None)  # type: ignore[arg-type]
    assert selects.apply(other, "target", 1, act("another page")) is not None

    selects.due(session, frozenset({"target", "strip"}))
    selects.due(session, frozenset({"example"}))
    assert selects.take(session) == {"target", "strip", "example"}
    assert selects.take(session) == frozenset()


def _address(page: Any) -> dict[str, str]:
    """The query of the page's address (the server's view, written by the link's script)."""
    return page.evaluate("() => Object.fromEntries(new URL(location.href).searchParams)")


def _wait_until(page: Any, script: str, arg: Any, what: str, timeout_ms: int = 60_000) -> None:
    """Wait until the page's ``script(arg)`` is true; on timeout, fail saying ``what``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(script, arg=arg, timeout=timeout_ms)
    except PlaywrightTimeout:
        status = page.inner_text("#status")
        raise AssertionError(f"{what}; the page shows: {status[:600]!r}") from None


# Clicks are sent by the page itself, on a timer (Playwright's clicks wait for the page between
# clicks, up to a few hundred ms on a busy machine), each where a mouse would make it: on the
# element at a fraction (fx, fy) of the ``index``-th element matching ``selector``. Resolves
# with the ms from the first click to the last.
CLICKS = """([clicks, gap]) => new Promise((resolve) => {
    const start = performance.now();
    clicks.forEach(([selector, index, fx, fy], number) => setTimeout(() => {
        const box = document.querySelectorAll(selector)[index].getBoundingClientRect();
        const x = box.left + fx * box.width, y = box.top + fy * box.height;
        const target = document.elementFromPoint(x, y);
        for (const type of ['mousedown', 'mouseup', 'click']) {
            target.dispatchEvent(new MouseEvent(type, {bubbles: true, cancelable: true,
                view: window, button: 0, clientX: x, clientY: y}));
        }
        if (number === clicks.length - 1) resolve(performance.now() - start);
    }, number * gap));
})"""


def _click(page: Any, clicks: list[tuple[str, int, float, float]], gap_s: float) -> None:
    """Clicks ``(selector, index, fx, fy)`` (module's CLICKS), ``gap_s`` apart (later where the
    page is too busy to run its timers on time: a busy machine; they stay in order)."""
    page.evaluate(CLICKS, [clicks, gap_s * 1000])


def _click_targets(page: Any, points: list[tuple[float, float]], gap_s: float) -> None:
    """Clicks at fractions of the shown target picture, ``gap_s`` apart."""
    page.locator("#target img").scroll_into_view_if_needed()
    _click(page, [("#target img", 0, fx, fy) for fx, fy in points], gap_s)


def _api_pictures(page: Any, x: int, y: int) -> dict[str, bytes]:
    """The CELL_PICTURES that the API (a new session, the first screen's view) draws for
    target pixel ``(x, y)``, as the files it sends."""
    from gradio_client import Client

    client = Client(page.url.split("?")[0], verbose=False)
    result = client.predict(x, y, api_name="/select_pixel")
    pictures = {}
    for item in result:
        if isinstance(item, str) and item.endswith(".jpeg"):
            name = Path(item).name.split(".")[1]
            if name in CELL_PICTURES:
                pictures[name] = Path(item).read_bytes()
    assert set(pictures) == set(CELL_PICTURES), result
    return pictures


def _assert_ends_on(page: Any, fx: float, fy: float) -> None:
    """Every output of the clicked pixel shows the pixel at ``(fx, fy)`` of the target, and
    still does a moment later: the status, the table, the marker, the maps, the page's
    address."""
    _wait_until(
        page,
        """([fx, fy]) => {
               const m = (document.querySelector('#status')?.innerText || '')
                   .match(/Target pixel \\((\\d+), (\\d+)\\) of (\\d+)×(\\d+)/);
               return !!m && Math.abs(m[1] - fx * m[3]) <= 10 && Math.abs(m[2] - fy * m[4]) <= 10;
           }""",
        [fx, fy],
        f"the status never showed the last click, at ({fx:.2f}, {fy:.2f}) of the target",
    )
    # A result still on its way would arrive now.
    page.wait_for_timeout(2500)
    status = page.inner_text("#status")
    found = PIXEL.search(status)
    assert found is not None, status
    x, y, width, height, cell_x, cell_y, stride = map(int, found.groups())
    tolerance = stride + 2
    assert abs(x - fx * width) <= tolerance and abs(y - fy * height) <= tolerance, status
    cell = f"({cell_x}, {cell_y})"
    assert f"Best matches of target cell {cell}" in page.inner_text("#table")
    # The maps are those of this cell: as the API draws them for it in a new session.
    sources = _sources(page, CELL_PICTURES)
    for name, picture in _api_pictures(page, x, y).items():
        assert page.request.get(str(sources[name])).body() == picture, name
    # The marker on the target picture is at the click.
    target = _sources(page, ["target"])["target"]
    assert target is not None
    marker = _marker_centre(page, target)
    size = page.eval_on_selector("#target img", "img => [img.naturalWidth, img.naturalHeight]")
    assert abs(marker[0] - fx * size[0]) < 0.04 * size[0], (marker, fx, size)
    assert abs(marker[1] - fy * size[1]) < 0.04 * size[1], (marker, fy, size)
    # The address (the link) names the same pixel.
    address = _address(page)
    assert abs(float(address["x"]) - fx * width) <= tolerance, address
    assert abs(float(address["y"]) - fy * height) <= tolerance, address
    assert page.locator(".toast-body.error").count() == 0


@pytest.mark.browser
def test_two_clicks_100_ms_apart_end_on_the_second(page: Any) -> None:
    _click_targets(page, [(0.2, 0.25), (0.75, 0.7)], 0.1)
    _assert_ends_on(page, 0.75, 0.7)


@pytest.mark.browser
def test_25_clicks_40_ms_apart_end_on_the_last(page: Any) -> None:
    points = [
        (0.1 + 0.8 * ((7 * number) % 25) / 24, 0.1 + 0.8 * ((11 * number) % 25) / 24)
        for number in range(25)
    ]
    _click_targets(page, points, 0.04)
    _assert_ends_on(page, *points[-1])
    # Slower clicks afterwards still work (nothing is left waiting).
    _click_targets(page, [(0.3, 0.4)], 0.0)
    _assert_ends_on(page, 0.3, 0.4)


def _selected_thumbnail(page: Any) -> list[int]:
    return page.eval_on_selector_all(
        "#gallery .thumbnail-item",
        "items => items.flatMap((item, i) => item.classList.contains('selected') ? [i] : [])",
    )


def _assert_pair(page: Any, name: str) -> None:
    """The page shows the bundled pair ``name``: every picture, the status, the gallery's
    highlighted thumbnail and the radio button."""
    names = example_names()
    _wait_until(
        page,
        "(name) => (document.querySelector('#status')?.innerText || '').startsWith(name + ':')",
        name,
        f"the status never named {name}",
        timeout_ms=90_000,
    )
    _wait_for_pair(page, name, MAIN_PICTURES, timeout_ms=120_000)
    page.wait_for_timeout(2000)  # a result still on its way would arrive now
    assert page.inner_text("#status").startswith(f"{name}:")
    assert _wait_for_pair(page, name, MAIN_PICTURES, timeout_ms=1000) == name
    assert _checked(page, "example") == [name]
    assert _selected_thumbnail(page) == [names.index(name)]


def _click_thumbnails(page: Any, indices: list[int], gap_s: float) -> None:
    """Clicks on the middle of the gallery's thumbnails ``indices``, ``gap_s`` apart."""
    thumbnails = page.locator("#gallery .thumbnail-item")
    for index in indices:
        thumbnails.nth(index).scroll_into_view_if_needed()
    _click(page, [("#gallery .thumbnail-item", index, 0.5, 0.5) for index in indices], gap_s)


@pytest.mark.browser
def test_two_gallery_clicks_150_ms_apart_end_on_the_second(page: Any) -> None:
    names = example_names()
    _click_thumbnails(page, [names.index("brick-shift"), names.index("chelsea-shift")], 0.15)
    _assert_pair(page, "chelsea-shift")


@pytest.mark.browser
def test_gallery_and_radio_show_the_pair_of_the_panels(page: Any) -> None:
    names = example_names()
    # The first screen: both show its pair (once the radio is drawn: the fixture waits for the
    # panels, which are on the first screen now and may load before the radio is checked).
    _wait_until(
        page,
        "(name) => [...document.querySelectorAll('#example input')]"
        ".some((e) => e.checked && e.value === name)",
        names[0],
        "the radio never showed the first pair",
        timeout_ms=10_000,
    )
    assert _checked(page, "example") == [names[0]]
    assert _selected_thumbnail(page) == [0]
    _click_thumbnails(page, [names.index("chelsea-shift")], 0.0)
    _assert_pair(page, "chelsea-shift")
    page.locator("#example").get_by_text("brick-shift").click()
    _assert_pair(page, "brick-shift")
    _click_thumbnails(page, [names.index("chelsea-shift")], 0.0)
    _assert_pair(page, "chelsea-shift")


def _table_iteration(page: Any) -> int:
    found = re.search(r"iteration (\d+):", page.inner_text("#table"))
    assert found is not None
    return int(found.group(1))


def _wait_for_address(page: Any, key: str, value: str, what: str) -> None:
    _wait_until(
        page,
        "([key, value]) => new URL(location.href).searchParams.get(key) === value",
        [key, value],
        f"{what}: the address never said {key}={value}",
        timeout_ms=90_000,
    )


@pytest.mark.browser
def test_slider_number_box_applies_on_enter_and_arrows_apply(page: Any) -> None:
    """Enter in a slider's number box, and arrow keys on a slider, apply the value: the
    panels (their table, the address) show what the controls show."""
    iteration = page.locator("#iteration")
    shown = int(iteration.locator("input[type=range]").input_value())
    assert _table_iteration(page) == shown == 3
    box = iteration.locator("input[type=number]")
    box.fill("1")
    box.press("Enter")
    _wait_for_address(page, "iteration", "1", "Enter in the iteration's number box")
    assert _table_iteration(page) == 1
    slider = iteration.locator("input[type=range]")
    slider.focus()
    slider.press("ArrowRight")
    _wait_for_address(page, "iteration", "2", "ArrowRight on the iteration slider")
    assert slider.input_value() == "2" and _table_iteration(page) == 2
    slider.press("ArrowLeft")
    slider.press("ArrowLeft")
    _wait_for_address(page, "iteration", "0", "ArrowLeft twice on the iteration slider")
    assert slider.input_value() == "0" and _table_iteration(page) == 0
    # The number box's own arrow keys apply too.
    box.press("ArrowUp")
    _wait_for_address(page, "iteration", "1", "ArrowUp in the iteration's number box")
    assert _table_iteration(page) == 1

    # A setting: the search radius (a recomputation), by Enter then by an arrow key.
    page.locator("#settings").get_by_text("Settings:").first.click()
    radius = page.locator("#setting-search-radius")
    radius.locator("input[type=number]").fill("2")
    radius.locator("input[type=number]").press("Enter")
    _wait_for_address(page, "search_radius", "2", "Enter in the search radius's number box")
    radius.locator("input[type=range]").focus()
    radius.locator("input[type=range]").press("ArrowRight")
    _wait_for_address(page, "search_radius", "3", "ArrowRight on the search radius")
    assert radius.locator("input[type=range]").input_value() == "3"
    _wait_for_pair(page, example_names()[0], MAIN_PICTURES)

    # The confidence view's slider.
    hidden = page.locator("#confidence-hidden input[type=range]")
    hidden.scroll_into_view_if_needed()
    before = _sources(page, ["match-map"])["match-map"]
    said = page.inner_text("#confidence-status")
    hidden.focus()
    hidden.press("ArrowRight")
    _wait_for_address(page, "hide", "30", "ArrowRight on the confidence slider")
    _wait_until(
        page,
        "(src) => document.querySelector('#match-map img').src !== src",
        before,
        "the matches were not drawn again",
        timeout_ms=30_000,
    )
    assert page.inner_text("#confidence-status") != said


@pytest.mark.browser
def test_a_link_with_the_network_compute_open_opens_it(url: str) -> None:
    _need_chromium()
    with browser_page(
        url.rstrip("/") + "/?pair=chelsea-shift&flow=open", timeout_ms=LOAD_MS
    ) as page:
        _wait_until(
            page,
            "() => (document.querySelector('#flow-status')?.innerText || '')"
            ".includes('Average endpoint error')",
            None,
            "the network view never showed its flow",
            timeout_ms=180_000,
        )
        wait_for_flow(page, {})
        assert page.locator("#flow-status").is_visible()
        assert page.locator("#flow img").first.is_visible()
        assert "chelsea-shift" in page.inner_text("#flow-status")
        assert _address(page).get("flow") == "open"


@pytest.mark.browser
def test_the_settings_open_beside_the_four_panels(page: Any) -> None:
    """Finding 6: at 1500x1000 the first screen shows the four panels the intro describes, and
    opening the settings leaves them there (the panels were 1233 px down, 2853 px once the
    settings were open)."""

    def top(name: str) -> float:
        return page.eval_on_selector(
            f"#{name}", "e => e.getBoundingClientRect().top + window.scrollY"
        )

    panels = ["local-correlation", "global-correlation", "gocor-global", "gocor-local"]
    page.wait_for_function(  # what is above the panels is laid out at its size
        "() => ['target', 'source'].every((name) => {"
        " const img = document.querySelector('#' + name + ' img');"
        " return img && img.complete && img.naturalWidth > 0; })"
    )
    page.wait_for_timeout(500)
    before = {name: top(name) for name in panels}
    assert max(before.values()) + 150 < 1000, before  # the panels' maps on the first screen
    page.locator("#settings").get_by_text("Settings:").first.click()
    page.locator("#setting-features").wait_for(state="visible")
    page.wait_for_timeout(500)  # the accordion's opening laid out
    after = {name: top(name) for name in panels}
    assert all(abs(after[name] - before[name]) < 2 for name in panels), (before, after)
