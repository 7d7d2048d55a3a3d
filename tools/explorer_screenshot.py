# SPDX-License-Identifier: MIT
"""Drive the explorer in a real browser (Debian's Chromium through Playwright): used by the
browser test and to make the README's screenshot.

    python -m tools.explorer_screenshot --out docs/screenshot.png --rules-out docs/rules_view.png \
        --confidence-out docs/confidence_view.png \
        --flow-out docs/flow_view.png --flow-pair stereo-motorcycle

Starts the app in this process on a free local port, opens it in headless Chromium (optionally
clicks a target pixel and waits for the new maps) and saves a full-page screenshot; then opens
the network view (with ``--network``, another network; ``--network-weights FILE``, the authors'
from that file), waits for its pictures and saves a screenshot of that section.
``--small-glunet FILE`` runs this project's small GLU-Net from another file than the shipped
one. Never downloads a browser (no ``playwright install``): it uses ``/usr/bin/chromium``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FLOW_PICTURES = ["flow", "warped", "flow-error", "flow-levels", "network-levels"]
PANELS = [
    "local-correlation",
    "global-correlation",
    "gocor-global",
    "gocor-local",
    "strip",
    "rules-panel",
]


@contextmanager
def serve() -> Iterator[str]:
    """The app launched in this process on a free port; yields its URL."""
    from explorer.app import build, launch_options

    demo = build()
    options = launch_options(port=None)
    demo.launch(prevent_thread_lock=True, quiet=True, **options)
    try:
        yield demo.local_url or ""
    finally:
        demo.close()


@contextmanager
def browser_page(
    url: str, width: int = 1500, height: int = 1000, timeout_ms: int = 30_000
) -> Iterator[Any]:
    """A Chromium page with the app loaded (first maps shown, waited for up to ``timeout_ms``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            page.wait_for_function(
                "() => { const img = document.querySelector('#gocor-global img');"
                " return img && img.complete && img.naturalWidth > 0; }",
                timeout=timeout_ms,
            )
            yield page
        finally:
            browser.close()


def image_sources(page: Any) -> dict[str, str]:
    """The ``src`` of the target picture and of every panel, by element id."""
    return {
        name: page.eval_on_selector(f"#{name} img", "img => img.src")
        for name in ["target", *PANELS]
    }


def click_target(
    page: Any,
    fx: float,
    fy: float,
    timeout_ms: int = 20_000,
    loaded: tuple[str, ...] = ("target",),
) -> dict[str, str]:
    """Click at a fraction ``(fx, fy)`` of the shown target picture; wait until every panel
    shows a new picture, and those in ``loaded`` are loaded (Gradio loads pictures far below
    the window only when scrolled to); return the new sources."""
    before = image_sources(page)
    page.locator("#target img").scroll_into_view_if_needed()
    box = page.locator("#target img").bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.wait_for_function(
        """([before, loaded]) => Object.entries(before).every(([name, src]) => {
               const img = document.querySelector('#' + name + ' img');
               return img && img.src !== src
                      && (!loaded.includes(name) || (img.complete && img.naturalWidth > 0)); })""",
        arg=[before, list(loaded)],
        timeout=timeout_ms,
    )
    return image_sources(page)


def choose_example(page: Any, name: str, timeout_ms: int = 30_000) -> None:
    """Click the gallery's thumbnail of the example pair ``name``; wait until it is loaded."""
    from gocor_lite.data.examples import example_names

    names = example_names()
    if name not in names:
        raise SystemExit(f"no example pair {name!r}; choose one of {names}")
    page.locator("#gallery .thumbnail-item").nth(names.index(name)).click()
    page.wait_for_function(
        "(name) => document.querySelector('#status').innerText.includes(name)",
        arg=name,
        timeout=timeout_ms,
    )


def open_flow(page: Any, timeout_ms: int = 60_000) -> dict[str, str]:
    """Open the network view, wait until its pictures are loaded; return their sources."""
    page.locator("#flow-view").get_by_text("The network, level by level").first.click()
    return wait_for_flow(page, {}, timeout_ms)


def wait_for_flow(page: Any, before: dict[str, str], timeout_ms: int = 60_000) -> dict[str, str]:
    """Wait until every picture of the network view shows an image other than in ``before``,
    then until each is loaded (scrolled to: Gradio loads pictures below the window lazily)."""
    page.wait_for_function(
        """([names, before]) => names.every((name) => {
               const img = document.querySelector('#' + name + ' img');
               if (img && img.loading === 'lazy') img.loading = 'eager';  // below the window
               return img && img.src !== before[name] && img.complete
                      && img.naturalWidth > 0; })""",
        arg=[FLOW_PICTURES, before],
        timeout=timeout_ms,
    )
    for name in FLOW_PICTURES:
        page.locator(f"#{name} img").scroll_into_view_if_needed()
        page.wait_for_function(
            "(name) => { const img = document.querySelector('#' + name + ' img');"
            " return img.complete && img.naturalWidth > 0; }",
            arg=name,
            timeout=timeout_ms,
        )
    return {name: page.eval_on_selector(f"#{name} img", "img => img.src") for name in FLOW_PICTURES}


def load_every_picture(page: Any, timeout_ms: int = 60_000) -> None:
    """Scroll through the page so that Gradio loads every picture (it loads those far below
    the window only when scrolled to), wait until each is loaded, and scroll back up."""
    height = page.evaluate("() => document.body.scrollHeight")
    for top in range(0, int(height) + 800, 800):
        page.evaluate("(top) => window.scrollTo(0, top)", top)
        page.wait_for_timeout(150)
    page.wait_for_function(
        """() => [...document.querySelectorAll('.picture img')]
                 .every((img) => img.complete && img.naturalWidth > 0)""",
        timeout=timeout_ms,
    )
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_timeout(300)


def screenshot_between(page: Any, path: Path, first: str, last: str, margin: int = 12) -> None:
    """A screenshot of the page from the top of element ``first`` to the bottom of ``last``
    (CSS selectors; ``first`` may be ``"top"``), full width."""
    box = page.evaluate(
        """([first, last]) => {
               const top = first === 'top' ? 0
                   : document.querySelector(first).getBoundingClientRect().top + window.scrollY;
               const end = document.querySelector(last).getBoundingClientRect().bottom
                   + window.scrollY;
               return [top, end, document.documentElement.clientWidth]; }""",
        [first, last],
    )
    top, bottom, width = box
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(
        path=str(path),
        full_page=True,
        clip={
            "x": 0,
            "y": max(0, top - margin),
            "width": width,
            "height": bottom - top + 2 * margin,
        },
    )
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    parser.add_argument(
        "--click",
        type=float,
        nargs=2,
        default=None,
        metavar=("FX", "FY"),
        help="click here first, as fractions of the target picture (default: the first screen "
        "as it opens, with its preselected pixel)",
    )
    parser.add_argument(
        "--flow-out", type=Path, default=None, help="also a screenshot of the network view"
    )
    parser.add_argument(
        "--rules-out",
        type=Path,
        default=None,
        help="also a screenshot of the matching rules' panel (and --out stops at the tables)",
    )
    parser.add_argument(
        "--confidence-out", type=Path, default=None, help="also one of the confidence view"
    )
    parser.add_argument(
        "--flow-pair",
        default=None,
        metavar="NAME",
        help="a gallery pair to load before the network view (default: the first pair)",
    )
    parser.add_argument(
        "--network",
        default=None,
        metavar="LABEL",
        help="the network view's network, by its label on the page (default: the first)",
    )
    parser.add_argument(
        "--network-weights",
        type=Path,
        default=None,
        metavar="FILE",
        help="the authors' GLU-Net weights, given in the network view",
    )
    parser.add_argument(
        "--small-glunet",
        type=Path,
        default=None,
        metavar="FILE",
        help="this project's small GLU-Net from this file (default: the shipped one)",
    )
    args = parser.parse_args(argv)
    if args.small_glunet is not None:
        from explorer.network_compute import SMALL_GLUNET_VARIABLE

        os.environ[SMALL_GLUNET_VARIABLE] = str(args.small_glunet)
    with serve() as url, browser_page(url) as page:
        if args.click is not None:
            click_target(page, *args.click)
        load_every_picture(page)
        if args.rules_out is None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            print(f"wrote {args.out}")
        else:
            screenshot_between(page, args.out, "top", "#rules-table")
            screenshot_between(page, args.rules_out, "#rules-intro", "#rules-help")
        if args.confidence_out is not None:
            screenshot_between(page, args.confidence_out, "#confidence-intro", "#confidence-status")
        if args.flow_out is not None:
            if args.flow_pair is not None:
                choose_example(page, args.flow_pair)
            shown = open_flow(page)
            if args.network is not None:
                page.locator("#network").get_by_text(args.network).click()
                shown = wait_for_flow(page, shown)
            if args.network_weights is not None:
                page.set_input_files("#network-file input[type=file]", str(args.network_weights))
                wait_for_flow(page, shown, timeout_ms=300_000)
            args.flow_out.parent.mkdir(parents=True, exist_ok=True)
            page.locator("#flow-view").screenshot(path=str(args.flow_out))
            print(f"wrote {args.flow_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
