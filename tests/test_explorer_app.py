# SPDX-License-Identifier: MIT
"""The explorer app launched in this process: driven through gradio_client, then through a real
browser (Debian's Chromium via Playwright, marked ``browser``)."""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer import render
from explorer.screenshot import (
    CHROMIUM,
    browser_page,
    click_target,
    image_sources,
    open_flow,
    serve,
    wait_for_flow,
)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve() as address:
        yield address


@pytest.fixture(scope="module")
def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def _status(result: tuple) -> str:
    """The status markdown among an action's outputs (the one string that names the pair)."""
    texts = [item for item in result if isinstance(item, str) and "**" in item]
    assert texts, result
    return texts[0]


def test_safe_launch_defaults() -> None:
    from explorer.app import launch_options

    options = launch_options()
    assert options["server_name"] == "127.0.0.1" and options["server_port"] == 7860
    assert options["share"] is False and options["ssr_mode"] is False
    assert options["max_file_size"]
    assert all(Path(path).name == "assets" for path in options["allowed_paths"])
    assert os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"


def test_command_line_help(capsys: pytest.CaptureFixture[str]) -> None:
    from explorer.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--host" in text and "--port" in text and "--share" in text


def test_binds_locally_and_serves_no_other_files(url: str) -> None:
    assert url.startswith("http://127.0.0.1:")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(url.rstrip("/") + "/gradio_api/file=/etc/passwd", timeout=10)
    assert error.value.code in (403, 404)


def test_select_pixel_endpoint_moves_the_marker(client) -> None:
    first = client.predict(40, 30, api_name="/select_pixel")
    second = client.predict(250, 180, api_name="/select_pixel")
    assert "cell (5, 3)" in _status(first)  # 8 px per cell
    assert "cell (31, 22)" in _status(second)
    pictures = [item for item in second if isinstance(item, str) and item.endswith(".jpeg")]
    assert len(pictures) >= 6  # target, source, four panels, strip, ...
    target = np.asarray(Image.open(pictures[0]))
    assert target.ndim == 3 and target.shape[1] >= 560  # enlarged for display


def test_outside_click_is_a_message(client) -> None:
    result = client.predict(5000, -3, api_name="/select_pixel")
    assert "outside the target image" in _status(result)


def test_choose_example_and_iteration(client) -> None:
    result = client.predict("stereo-motorcycle", api_name="/choose_example")
    assert "stereo-motorcycle" in _status(result)
    result = client.predict(0, api_name="/set_iteration")
    assert "stereo-motorcycle" in _status(result)
    result = client.predict(render.COLOUR_SCALES[1], api_name="/set_colour_scale")
    assert "stereo-motorcycle" in _status(result)


def test_click_during_a_recomputation_waits_for_it(url: str) -> None:
    """Events queue one at a time: a click sent while a new pair is computed is answered
    after it, on the new pair, and neither fails."""
    from gradio_client import Client

    client = Client(url, verbose=False)  # a fresh session
    recompute = client.submit("chelsea-shift", api_name="/choose_example")
    time.sleep(0.5)  # let the recomputation start first
    click = client.submit(100, 80, api_name="/select_pixel")
    assert "chelsea-shift" in _status(recompute.result(timeout=60))
    clicked = _status(click.result(timeout=60))
    assert "chelsea-shift" in clicked and "cell (12, 10)" in clicked


def test_corrupt_upload_through_the_app(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a whole jpeg")
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 80, 3), np.uint8)).save(good)
    result = client.predict(handle_file(str(bad)), handle_file(str(good)), api_name="/upload_pair")
    assert "⚠️" in _status(result) and "broken.jpg" in _status(result)
    # The session still answers.
    assert "Target pixel" in _status(client.predict(10, 10, api_name="/select_pixel"))


def test_flow_view_through_the_app(client) -> None:
    from explorer.pipeline import FLOW_ESTIMATORS, FLOW_VARIANTS

    client.predict("astronaut-warp", api_name="/choose_example")
    variant, estimator = list(FLOW_VARIANTS)[3], next(iter(FLOW_ESTIMATORS))
    result = client.predict(variant, estimator, api_name="/choose_flow")
    status = _status(result)
    assert "astronaut-warp" in status and variant in status
    assert re.search(r"Average endpoint error: \d+\.\d+ px", status)
    pictures = [item for item in result if isinstance(item, str) and item.endswith(".jpeg")]
    assert len(pictures) >= 4  # flow, warped source, error, levels


# -- a real browser ------------------------------------------------------------------------------


def _need_chromium() -> None:
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            reason = "the playwright package is not installed"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(reason)


def _marker_centre(page, src: str) -> tuple[float, float]:
    """Centre of the click marker's colour in a picture, in its own pixels."""
    data = page.request.get(src).body()
    from io import BytesIO

    picture = np.asarray(Image.open(BytesIO(data)).convert("RGB")).astype(int)
    distance = np.abs(picture - np.array(render.CLICK_COLOUR)).sum(axis=2)
    rows, cols = np.nonzero(distance < 90)
    assert rows.size > 20, "no marker found"
    return float(np.median(cols)), float(np.median(rows))


@pytest.mark.browser
def test_click_in_chromium_updates_every_map(
    url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    _need_chromium()
    with browser_page(url) as page:
        before = click_target(page, 0.2, 0.25)
        first_marker = _marker_centre(page, before["target"])
        after = click_target(page, 0.75, 0.7)
        assert all(after[name] != before[name] for name in before)
        second_marker = _marker_centre(page, after["target"])
        size = page.eval_on_selector("#target img", "img => [img.naturalWidth, img.naturalHeight]")
        # The marker is where the click was (within a cell of the enlarged picture).
        tolerance = 0.04 * size[0]
        assert abs(first_marker[0] - 0.2 * size[0]) < tolerance
        assert abs(first_marker[1] - 0.25 * size[1]) < tolerance
        assert abs(second_marker[0] - 0.75 * size[0]) < tolerance
        assert abs(second_marker[1] - 0.7 * size[1]) < tolerance
        status = page.inner_text("#status")
        assert re.search(r"Target pixel \(\d+, \d+\)", status)
        page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
        if os.environ.get("GOCOR_SCREENSHOT"):
            page.screenshot(path=os.environ["GOCOR_SCREENSHOT"], full_page=True)
        # The gallery: a click on the second pair loads it (progress, then every map).
        page.locator("#gallery .thumbnail-item").nth(1).click()
        page.wait_for_function(
            "() => document.querySelector('#status').innerText.includes('chelsea-shift')",
            timeout=30_000,
        )
        assert image_sources(page)["gocor-global"] != after["gocor-global"]
        # The closed flow view stays as it is; no event of the new pair fails on the server.
        page.wait_for_timeout(1500)
        assert page.locator(".toast-body.error").count() == 0
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.browser
def test_flow_view_in_chromium(url: str) -> None:
    _need_chromium()
    with browser_page(url) as page:
        first = open_flow(page)
        status = page.inner_text("#flow-status")
        assert re.search(r"Average endpoint error: \d+\.\d+ px", status), status
        mean_error = float(re.search(r"error: (\d+\.\d+) px", status).group(1))
        assert 0 <= mean_error < 200
        page.locator("#flow-variant").get_by_text("global GOCor").click()
        wait_for_flow(page, first)
        assert "global GOCor" in page.inner_text("#flow-status")
        # A new pair while the section is open: the flow follows it.
        page.locator("#gallery .thumbnail-item").nth(1).click()
        page.wait_for_function(
            "() => document.querySelector('#flow-status').innerText.includes('chelsea-shift')",
            timeout=60_000,
        )
