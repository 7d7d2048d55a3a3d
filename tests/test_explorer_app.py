# SPDX-License-Identifier: MIT
"""The explorer app launched in this process: driven through gradio_client (each bad input the
issue names, with its message), then through a real browser (Debian's Chromium via Playwright,
marked ``browser``): no stale panel along a walk through pairs and networks, a refused setting
or weights file set back, one request per control change. This project's small GLU-Net is a
file of random weights (``GOCOR_SMALL_GLUNET``), the authors' a synthetic checkpoint."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import render
from explorer.network_compute import NETWORKS
from gocor_lite.data.examples import example_names, load_example
from tools.explorer_screenshot import (
    CHROMIUM,
    browser_page,
    click_target,
    image_sources,
    open_flow,
    wait_for_flow,
)

# Every picture of the page that shows the current pair, by element id.
PAIR_PICTURES = [
    "target",
    "source",
    "local-correlation",
    "global-correlation",
    "gocor-global",
    "gocor-local",
    "strip",
    "losses",
    "functions",
    "flow",
    "warped",
    "flow-error",
    "flow-levels",
    "network-levels",
    "rules-panel",
    "confidence-map",
    "match-map",
]
NETWORK_LABELS = list(NETWORKS)


@pytest.fixture(scope="module")
def authors_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic GLU-Net-GOCor checkpoint: the released names and shapes, random weights."""
    from tests.test_glunet import random_checkpoint

    path = tmp_path_factory.mktemp("authors") / "GLUNet_GOCor_static.pth"
    torch.save({"state_dict": random_checkpoint(True, seed=3)}, path)
    return path


@pytest.fixture(scope="module")
def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def _fresh(url: str):
    from gradio_client import Client

    return Client(url, verbose=False)


def _status(result: tuple) -> str:
    """The status markdown among an action's outputs (the first string that names the pair)."""
    texts = [item for item in result if isinstance(item, str) and "**" in item]
    assert texts, result
    return texts[0]


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return np.kron(small, np.ones((8, 8, 1), np.uint8))[:height, :width]


def _png(path: Path, height: int, width: int, seed: int = 0) -> Path:
    Image.fromarray(_texture(height, width, seed)).save(path)
    return path


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


def test_a_busy_port_is_said_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """Before anything is computed, a port in use is a one-line message (no traceback)."""
    import socket

    from explorer.__main__ import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = time.perf_counter()
        assert main(["--port", str(port)]) == 2
        assert time.perf_counter() - start < 5
    error = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in error
    assert "--port" in error and "make run PORT=" in error and "Traceback" not in error


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
    """A click sent while its session's new pair is computed is answered when that is done,
    on the new pair, and neither fails."""
    client = _fresh(url)
    recompute = client.submit("chelsea-shift", api_name="/choose_example")
    time.sleep(0.5)  # let the recomputation start first
    click = client.submit(100, 80, api_name="/select_pixel")
    assert "chelsea-shift" in _status(recompute.result(timeout=120))
    clicked = _status(click.result(timeout=120))
    assert "chelsea-shift" in clicked and "cell (12, 10)" in clicked


def test_corrupt_upload_through_the_app(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a whole jpeg")
    good = _png(tmp_path / "good.png", 64, 80)
    result = client.predict(handle_file(str(bad)), handle_file(str(good)), api_name="/upload_pair")
    status = _status(result)
    assert "⚠️" in status and "broken.jpg" in status and "the target image cannot be used" in status
    assert "/tmp/" not in status  # the file's name, never the server's path to the upload
    # The session still answers.
    assert "Target pixel" in _status(client.predict(10, 10, api_name="/select_pixel"))


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        (1e30, "not 1e+30"),
        (-1, "not -1"),
        (2.5, "not 2.5"),
    ],
)
def test_a_bad_seed_is_a_message(client, seed: float, message: str) -> None:
    status = _status(client.predict(None, seed, "homography", api_name="/make_synthetic"))
    assert "random seed must be a whole number from 0 to 4294967295" in status
    assert message in status and "Something went wrong" not in status


@pytest.mark.parametrize(
    ("size", "message"),
    [((1, 1), "is 1×1 px: the explorer needs at least 32 px"), ((40, 5000), "a ratio of 125.00:1")],
)
def test_images_the_method_cannot_use_are_refused(
    client, tmp_path: Path, size: tuple[int, int], message: str
) -> None:
    from gradio_client import handle_file

    odd = _png(tmp_path / "odd.png", *size)
    good = _png(tmp_path / "good.png", 64, 80)
    status = _status(
        client.predict(handle_file(str(odd)), handle_file(str(good)), api_name="/upload_pair")
    )
    assert "⚠️" in status and message in status and "odd.png" in status


def _settings(**changes: Any) -> list[Any]:
    from explorer.pipeline import Settings
    from explorer.state import SETTING_CONTROLS

    values = {name: getattr(Settings(), name) for name in SETTING_CONTROLS}
    values.update(changes)
    return [values[name] for name in SETTING_CONTROLS]


def test_features_that_need_a_file_are_refused_and_set_back(url: str) -> None:
    client = _fresh(url)
    result = client.predict(*_settings(features="vgg16"), None, api_name="/apply_settings")
    status = _status(result)
    assert "the vgg16 features need a weights file you have" in status
    assert "weights=" not in status and "nothing is downloaded" in status
    assert "xfeat" in result  # the features control is sent back to the value in use
    assert "vgg16" not in result
    # The session goes on: the next change applies.
    result = client.predict(*_settings(num_iter=2), None, api_name="/apply_settings")
    assert "⚠️" not in _status(result)


def test_a_setting_outside_its_range_is_a_message(url: str) -> None:
    client = _fresh(url)
    status = _status(client.predict(*_settings(num_iter=2.5), None, api_name="/apply_settings"))
    assert "GOCor iterations K must be a whole number from 0 to 8, not 2.5" in status


def test_an_unsafe_weights_file_is_explained_without_paths(url: str, tmp_path: Path) -> None:
    """A pickled model (not only tensors) is refused without running it; the message names the
    file, says what to do, and neither shows the server's path nor suggests an unsafe load."""
    from gradio_client import handle_file

    pickled = tmp_path / "whole_model.pth"
    torch.save({"model": torch.nn.Linear(2, 2)}, pickled)
    # Features that read a file of their own (XFeat, the default, reads its shipped one).
    client = _fresh(url)
    client.predict(*_settings(features="learned"), None, api_name="/apply_settings")
    for api_name in ("/use_weights", "/use_feature_weights"):
        status = _status(client.predict(handle_file(str(pickled)), api_name=api_name))
        assert "⚠️" in status and "whole\\_model.pth" in status  # markdown for whole_model.pth
        assert "/tmp/" not in status and "weights_only" not in status
    assert "cannot be read safely" in status or "can be read safely" in status


def test_network_compute_through_the_app(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    client.predict("astronaut-warp", api_name="/choose_example")
    result = client.predict(NETWORK_LABELS[1], None, api_name="/choose_network")
    status = next(item for item in result if isinstance(item, str) and "endpoint error" in item)
    assert "astronaut-warp" in status and NETWORK_LABELS[1] in status
    assert re.search(r"Average endpoint error: \d+\.\d+ px", status)
    pictures = [item for item in result if isinstance(item, str) and item.endswith(".jpeg")]
    assert len(pictures) >= 5  # flow, warped source, error, levels' flows, levels' maps
    assert all("astronaut-warp." in Path(item).name for item in pictures)
    assert any(Path(item).name == "astronaut-warp.network-levels.jpeg" for item in pictures)
    # A pickled model as the authors' weights: refused by name, the radio set back.
    pickled = tmp_path / "my_model.pth"
    torch.save({"model": torch.nn.Linear(2, 2)}, pickled)
    result = client.predict(
        NETWORK_LABELS[2], handle_file(str(pickled)), api_name="/choose_network"
    )
    status = _status(result)
    assert "⚠️" in status and "my\\_model.pth" in status and "/tmp/" not in status
    assert NETWORK_LABELS[1] in result and NETWORK_LABELS[2] not in result  # set back


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


def _picture(page, src: str) -> np.ndarray:
    data = page.request.get(src).body()
    return np.asarray(Image.open(BytesIO(data)).convert("RGB")).astype(int)


def _marker_centre(page, src: str) -> tuple[float, float]:
    """Centre of the click marker's colour in a picture, in its own pixels."""
    picture = _picture(page, src)
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
        # The gallery: a click on the chelsea pair loads it (progress, then every map).
        page.locator("#gallery .thumbnail-item").nth(example_names().index("chelsea-shift")).click()
        page.wait_for_function(
            "() => document.querySelector('#status').innerText.includes('chelsea-shift')",
            timeout=30_000,
        )
        _wait_for_pair(page, "chelsea-shift", PAIR_PICTURES[:9])
        assert page.locator(".toast-body.error").count() == 0
    assert "Traceback" not in capfd.readouterr().err


def _checked(page, elem_id: str) -> list[str]:
    return page.eval_on_selector_all(
        f"#{elem_id} input", "els => els.filter(e => e.checked).map(e => e.value)"
    )


@pytest.mark.browser
def test_network_compute_in_chromium(url: str, tmp_path: Path) -> None:
    _need_chromium()
    with browser_page(url) as page:
        first = open_flow(page)
        status = page.inner_text("#flow-status")
        assert re.search(r"Average endpoint error: \d+\.\d+ px", status), status
        assert NETWORK_LABELS[0] in status
        page.locator("#network").get_by_text(NETWORK_LABELS[1]).click()
        second = wait_for_flow(page, first)
        assert NETWORK_LABELS[1] in page.inner_text("#flow-status")
        # A click moves the pixel: each level's maps are drawn again, the flow stays.
        before = _sources(page, ["network-levels", "flow"])
        click_target(page, 0.3, 0.6)
        page.wait_for_function(
            "(src) => document.querySelector('#network-levels img').src !== src",
            arg=before["network-levels"],
            timeout=30_000,
        )
        assert _sources(page, ["flow"])["flow"] == before["flow"] == second["flow"]
        # A file the authors' network cannot use: said, and the radio set back.
        pickled = tmp_path / "my_model.pth"
        torch.save({"model": torch.nn.Linear(2, 2)}, pickled)
        page.set_input_files("#network-file input[type=file]", str(pickled))
        page.wait_for_function(
            "() => document.querySelector('#flow-status').innerText.includes('my_model.pth')",
            timeout=60_000,
        )
        assert "can be read safely" in page.inner_text("#flow-status")
        assert _checked(page, "network") == [NETWORK_LABELS[1]]
        assert _sources(page, ["flow"])["flow"] == second["flow"]  # nothing else changed
        # A new pair while the section is open: the flow follows it.
        page.locator("#gallery .thumbnail-item").nth(example_names().index("chelsea-shift")).click()
        _wait_for_pair(page, "chelsea-shift", PAIR_PICTURES)
        assert "chelsea-shift" in page.inner_text("#flow-status")


def _sources(page, names: list[str]) -> dict[str, str | None]:
    """The pictures' ``src`` (Gradio loads pictures below the window lazily: ``src`` says what
    the page shows, the picture loads when scrolled to)."""
    return page.evaluate(
        """(names) => Object.fromEntries(names.map((name) => {
               const img = document.querySelector('#' + name + ' img');
               return [name, img ? img.src : null]; }))""",
        names,
    )


def _label(src: str | None) -> str | None:
    """The pair a picture was drawn for: its file is named ``<pair>.<output>.<ext>``."""
    return None if src is None else src.rsplit("/", 1)[-1].split(".")[0]


def _wait_for_pair(page, prefix: str, names: list[str], timeout_ms: int = 120_000) -> str:
    """Wait until every picture in ``names`` shows a file drawn for one pair whose label
    starts with ``prefix``; return that label."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        _wait_for_labels(page, prefix, names, timeout_ms)
    except PlaywrightTimeout:
        labels = {name: _label(src) for name, src in _sources(page, names).items()}
        raise AssertionError(f"not every picture shows a {prefix}... pair: {labels}") from None
    page.wait_for_timeout(300)  # anything still arriving would show now
    return str(_label(_sources(page, names)[names[0]]))


def _wait_for_labels(page, prefix: str, names: list[str], timeout_ms: int) -> None:
    page.wait_for_function(
        """([names, prefix]) => {
               const labels = names.map((name) => {
                   const img = document.querySelector('#' + name + ' img');
                   if (!img || !img.src) return null;
                   return img.src.split('/').pop().split('.')[0]; });
               return labels.every((label) => label !== null && label.startsWith(prefix)
                                    && label === labels[0]); }""",
        arg=[names, prefix],
        timeout=timeout_ms,
    )


def _looks_like(picture: np.ndarray, image: np.ndarray) -> float:
    """Correlation of two pictures after both are shrunk to 32 x 32 grey (1: the same)."""

    def small(array: np.ndarray) -> np.ndarray:
        grey = Image.fromarray(np.asarray(array, np.uint8)).convert("L").resize((32, 32))
        values = np.asarray(grey, float).ravel()
        return (values - values.mean()) / (values.std() + 1e-9)

    return float(np.mean(small(picture) * small(image)))


@pytest.mark.browser
@pytest.mark.slow
def test_no_stale_panel_along_a_walk_in_chromium(
    url: str, tmp_path: Path, authors_file: Path
) -> None:
    """A pair with ground truth (the network view open) -> an upload without -> a synthetic
    warp -> a bundled pair again -> another network of this project -> the authors' network
    from a file. After each step every picture of the page (the four maps, the Fig. 1 strip,
    the plots, the network view's flow, warped source, error, levels' flows and levels' maps)
    is a file the server drew for the current pair (its name says which), the status, the
    table and the network view's status name that pair (and the network), and the target shows
    the pair's own target image."""
    _need_chromium()
    target_file = _png(tmp_path / "walk-target.png", 180, 240, 11)
    source_file = _png(tmp_path / "walk-source.png", 180, 240, 12)
    names = example_names()

    def check(label: str, title: str, target: np.ndarray, truth: bool, network: str = "") -> None:
        sources = _sources(page, PAIR_PICTURES)
        assert {name: _label(src) for name, src in sources.items()} == dict.fromkeys(
            PAIR_PICTURES, label
        )
        assert f"{title}" in page.inner_text("#status").split("\n")[0] or title in (
            page.inner_text("#status")
        )
        assert title in page.inner_text("#table")
        flow_status = page.inner_text("#flow-status")
        assert title in flow_status and network in flow_status
        assert ("Average endpoint error" in flow_status) is truth
        assert ("No ground truth" in flow_status) is (not truth)
        shown = _picture(page, str(sources["target"]))
        assert _looks_like(shown, target) > 0.8

    with browser_page(url) as page:
        open_flow(page)
        page.locator("#gallery .thumbnail-item").nth(names.index("stereo-motorcycle")).click()
        label = _wait_for_pair(page, "stereo-motorcycle", PAIR_PICTURES)
        check(label, "stereo-motorcycle", load_example("stereo-motorcycle").target, True)

        page.get_by_role("tab", name="Upload").click()
        page.set_input_files("#target-file input[type=file]", str(target_file))
        page.set_input_files("#source-file input[type=file]", str(source_file))
        page.wait_for_function(
            "() => document.querySelector('#source-file').innerText.includes('walk-source')",
            timeout=30_000,
        )
        page.locator("#upload-button").click()
        label = _wait_for_pair(page, "upload-", PAIR_PICTURES)
        check(label, "upload", np.asarray(Image.open(target_file)), False)
        assert "walk-target.png" in page.inner_text("#status")
        upload_target = _picture(page, str(_sources(page, ["target"])["target"]))

        page.get_by_role("tab", name="Synthetic").click()
        page.locator("#synthetic-button").click()
        label = _wait_for_pair(page, "synthetic-", PAIR_PICTURES)
        # The warp of the current target: the source shows the uploaded target's texture.
        shown_source = _picture(page, str(_sources(page, ["source"])["source"]))
        assert _looks_like(shown_source, upload_target) > 0.5
        check(label, "synthetic", _picture(page, str(_sources(page, ["target"])["target"])), True)

        page.get_by_role("tab", name="Pairs").click()
        page.locator("#gallery .thumbnail-item").nth(names.index("chelsea-shift")).click()
        label = _wait_for_pair(page, "chelsea-shift", PAIR_PICTURES)
        check(label, "chelsea-shift", load_example("chelsea-shift").target, True)

        # The network: this project's GLU-Net, then the authors' GLU-Net-GOCor from a file.
        flow = wait_for_flow(page, {})
        page.locator("#network").get_by_text(NETWORK_LABELS[1]).click()
        flow = wait_for_flow(page, flow)
        check(label, "chelsea-shift", load_example("chelsea-shift").target, True, NETWORK_LABELS[1])
        page.set_input_files("#network-file input[type=file]", str(authors_file))
        wait_for_flow(page, flow, timeout_ms=240_000)
        check(label, "chelsea-shift", load_example("chelsea-shift").target, True, "GLU-Net-GOCor")
        assert "the authors' GLU-Net-GOCor (GLUNet_GOCor_static.pth)" in page.inner_text(
            "#flow-status"
        )
        assert _checked(page, "network") == [NETWORK_LABELS[2]]
        assert page.locator(".toast-body.error").count() == 0


def _joins(page) -> list[int]:
    """The fn_index of every queue request the page sent (recorded by _record_requests)."""
    return page.evaluate("() => window.__joins.slice()")


def _record_requests(page) -> None:
    page.evaluate(
        """() => { window.__joins = [];
               const send = window.fetch;
               window.fetch = (input, init) => {
                   const url = typeof input === 'string' ? input : input.url;
                   if (url.includes('/queue/join') && init && init.body) {
                       try { window.__joins.push(JSON.parse(init.body).fn_index); } catch (e) {}
                   }
                   return send(input, init); }; }"""
    )


def _settled(page, quiet_ms: int = 1500, timeout_ms: int = 90_000) -> None:
    """Wait until no request was sent for ``quiet_ms`` and nothing shows progress."""
    deadline = time.monotonic() + timeout_ms / 1000
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(_joins(page))
        busy = page.locator(".progress-text, .eta-bar, .meta-text-center").count() > 0
        if now != count or busy:
            count, since = now, time.monotonic()
        elif time.monotonic() - since > quiet_ms / 1000:
            return
        page.wait_for_timeout(200)
    raise AssertionError("the page did not settle")


@pytest.mark.browser
@pytest.mark.slow
def test_each_control_change_sends_one_request_in_chromium(url: str) -> None:
    """Every change sends its action once (Gradio's dropdown sent it twice) and at most one
    computation; a refused setting is set back on the page, said once."""
    _need_chromium()
    with browser_page(url) as page:
        page.locator("#settings").get_by_text("Settings:").first.click()
        _record_requests(page)
        _settled(page)

        def change(do: Any, computes: bool | None) -> list[int]:
            start = len(_joins(page))
            do()
            _settled(page)
            sent = _joins(page)[start:]
            assert sent and len(set(sent)) == len(sent), sent  # nothing sent twice
            # The action, then at most its computation, the refresh after it and the page's
            # redraw of what clicks show (explorer.wiring: a computation's answer may arrive
            # after a click's; the redraw, one at a time per page, draws it again).
            assert len(sent) <= 4, sent
            if computes is not None:
                assert len(sent) == (4 if computes else 1), sent
            return sent

        radio = page.locator("#setting-normalization")
        change(lambda: radio.get_by_text("l2", exact=True).click(), True)
        change(lambda: radio.get_by_text("centered-l2", exact=True).click(), False)  # in memory
        change(
            lambda: page.locator("#setting-working-size").get_by_text("240", exact=True).click(),
            True,
        )
        change(lambda: page.locator("#example").get_by_text("gravel-warp").click(), True)
        change(lambda: page.locator("#colour-scale").get_by_text("shared").click(), False)
        measure = page.locator("#confidence-measure")
        change(lambda: measure.get_by_text("mass within 1 cell", exact=True).click(), False)
        # A click: the select event (it moves the pixel), then the page's redraw (it draws).
        assert len(change(lambda: click_target(page, 0.3, 0.6), None)) == 2
        # The network view: opened (the trace computed), another network, back (in memory).
        change(lambda: open_flow(page), True)
        change(lambda: page.locator("#network").get_by_text(NETWORK_LABELS[1]).click(), True)
        change(lambda: page.locator("#network").get_by_text(NETWORK_LABELS[0]).click(), False)
        page.locator("#settings").get_by_text("Settings:").first.scroll_into_view_if_needed()
        slider = page.locator("#setting-num-iter input[type=range]")

        def drag_to_two() -> None:  # a click on the track: the slider's release event
            slider.scroll_into_view_if_needed()
            box = slider.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 2 / 8, box["y"] + box["height"] / 2)

        change(drag_to_two, None)
        assert page.eval_on_selector("#setting-num-iter input[type=range]", "e => e.value") in (
            "1",
            "2",
            "3",
        )
        # A refused setting: set back, said once.
        before = image_sources(page)
        change(
            lambda: page.locator("#setting-features").get_by_text("vgg16", exact=True).click(),
            False,
        )
        checked = page.eval_on_selector_all(
            "#setting-features input", "els => els.filter(e => e.checked).map(e => e.value)"
        )
        assert checked == ["xfeat"]
        assert "the vgg16 features need a weights file" in page.inner_text("#status")
        assert page.locator(".toast-body").filter(has_text="vgg16 features need").count() == 1
        assert image_sources(page) == before  # nothing else changed


def test_the_page_config_has_no_dropdowns(url: str) -> None:
    """Every choice is a radio button: Gradio 6's dropdown sends its input event twice."""
    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30) as response:
        config = json.load(response)
    kinds = {component.get("type") for component in config["components"]}
    assert "dropdown" not in kinds and "radio" in kinds


def test_the_query_loss_label_and_its_refusal_name_one_limit(url: str) -> None:
    """The checkbox says the largest working resolution the query loss allows, and the refusal
    of a larger one names the same number (they once said 240 and 320)."""
    from explorer.pipeline import QUERY_LOSS_MAX_SIZE, InputError, Settings

    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30) as response:
        config = json.load(response)
    (checkbox,) = [
        component
        for component in config["components"]
        if component.get("props", {}).get("elem_id") == "setting-query-loss"
    ]
    assert f"working resolution {QUERY_LOSS_MAX_SIZE} px or less" in checkbox["props"]["label"]
    larger = min(size for size in (400, 480) if size > QUERY_LOSS_MAX_SIZE)
    with pytest.raises(InputError, match=f"at most {QUERY_LOSS_MAX_SIZE} px"):
        Settings(working_size=larger, query_loss=True)  # checked when made


# -- the data endpoints (score maps, flow, matches, whole-image scores, pictures) ----------------


def _reference_volume(name: str, size: int):
    """The working pair and the global correlation the app's default settings make of it,
    computed here with the library."""
    from gocor_lite import global_correlation
    from gocor_lite.core.features import default_extractor_name, make_extractor, normalize_features
    from gocor_lite.data.pairs import resize_pair
    from gocor_lite.files.images import to_tensor

    extractor = make_extractor(default_extractor_name()).eval()
    pair = resize_pair(load_example(name), size, extractor.stride)
    with torch.no_grad():
        target, source = normalize_features(
            extractor(to_tensor(pair.target)), extractor(to_tensor(pair.source)), "centered-l2"
        )
        volume = global_correlation(target, source)
    return extractor, pair, volume


@pytest.fixture(scope="module")
def small_client(url: str):
    """A session on chelsea-shift at 160 px and 2 GOCor iterations (quick to compute)."""
    client = _fresh(url)
    result = client.predict(
        *_settings(working_size=160, num_iter=2), None, api_name="/apply_settings"
    )
    assert "⚠️" not in _status(result)
    assert "chelsea-shift" in _status(client.predict("chelsea-shift", api_name="/choose_example"))
    return client


def test_score_maps_endpoint_against_the_library(small_client) -> None:
    from gocor_lite.reading.rules import softmax_probability

    status, path, names = small_client.predict(44, 36, api_name="/score_maps")
    assert "cell (5, 4)" in status
    maps = np.load(path)
    assert maps.shape[0] == len(names) and maps.dtype == np.float32
    _, _, volume = _reference_volume("chelsea-shift", 160)
    np.testing.assert_allclose(maps[names.index("global correlation")], volume[0, 4, 5], atol=1e-5)
    probability = softmax_probability(volume, 0.05)[0, 4, 5]
    index = next(i for i, name in enumerate(names) if name.startswith("softmax probability"))
    np.testing.assert_allclose(maps[index], probability, atol=1e-5)
    # A refused pixel returns no maps, and says why.
    status, path, names = small_client.predict(5000, -3, api_name="/score_maps")
    assert "outside the target image" in status and path is None and names is None


def test_rule_scores_endpoint_against_the_library(small_client) -> None:
    from gocor_lite.evaluation.rule_scores import pair_rule_scores
    from gocor_lite.files.weights import load_trained_gocor

    _, answer = small_client.predict(api_name="/rule_scores")
    assert answer["pair"] == "chelsea-shift" and answer["ground_truth"] is True
    extractor, pair, _ = _reference_volume("chelsea-shift", 160)
    gocor = load_trained_gocor("global", extractor.name, num_iter=2)
    expected = pair_rule_scores(pair, extractor, gocor={"gocor": gocor})
    methods = answer["methods"]
    for rule in ("soft-argmax", "softmax", "dual-softmax", "mutual", "cyclic", "sinkhorn"):
        got, want = methods[rule], expected[rule]
        assert got["within_cell"] == pytest.approx(want.pck_cell, abs=1e-6), rule
        assert got["accepted"] == pytest.approx(want.accepted, abs=1e-6), rule
        assert got["count"] == want.count
    assert methods["global correlation (argmax)"]["within_cell"] == pytest.approx(
        expected["argmax"].pck_cell, abs=1e-6
    )
    assert methods["GOCor global, iteration 2"]["within_cell"] == pytest.approx(
        expected["gocor"].pck_cell, abs=1e-6
    )
    assert methods["GOCor global, iteration 2"]["aepe"] == pytest.approx(
        expected["gocor"].aepe, rel=1e-5
    )


def test_matches_endpoint_against_the_library(small_client) -> None:
    from gocor_lite.files.export import read_matches_csv, rule_matches
    from gocor_lite.reading.rules import read_rule

    status, path = small_client.predict("global correlation", "peak ratio", 0, api_name="/matches")
    rows = read_matches_csv(path)
    _, _, volume = _reference_volume("chelsea-shift", 160)
    expected = rule_matches(read_rule("argmax", volume), 8)
    np.testing.assert_allclose(rows, expected, rtol=1e-4, atol=1e-4)
    status, path = small_client.predict("global correlation", "loudness", 0, api_name="/matches")
    assert "confidence measure must be one of" in status and path is None


def test_flow_endpoint_against_the_library(small_client, small_glunet_file: Path) -> None:
    from gocor_lite.data.pairs import resize_pair
    from gocor_lite.files.export import read_flo
    from gocor_lite.files.weights import load_small_glunet

    status, npy, flo = small_client.predict(api_name="/flow")
    assert "chelsea-shift" in status
    flow = np.load(npy)
    np.testing.assert_array_equal(read_flo(flo), flow)
    # The network view's default, this project's GLU-Net-GOCor (the tests' file), on the
    # working pair (160 px, sides multiples of the learned features' stride).
    pair = resize_pair(load_example("chelsea-shift"), 160, 8)
    network = load_small_glunet("gocor", path=small_glunet_file)
    expected = network.estimate_flow(pair.target, pair.source)[0].numpy()
    np.testing.assert_allclose(flow, expected, rtol=1e-5, atol=1e-3)


def test_pictures_endpoint_gives_png_files(small_client) -> None:
    import zipfile

    _, path = small_client.predict(api_name="/pictures")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert {"chelsea-shift.target.png", "chelsea-shift.rules-panel.png"} <= set(names)
        for name in names:
            assert Image.open(BytesIO(archive.read(name))).format == "PNG"


def test_every_option_is_explained(url: str) -> None:
    """Each setting, the flow view's choices and the confidence controls carry a sentence."""
    with urllib.request.urlopen(url.rstrip("/") + "/config", timeout=30) as response:
        config = json.load(response)
    info = {
        component["props"].get("elem_id"): component["props"].get("info")
        for component in config["components"]
    }
    for elem_id in (
        "setting-features",
        "setting-normalization",
        "setting-working-size",
        "setting-search-radius",
        "setting-num-iter",
        "setting-initializer",
        "setting-gocor-parameters",
        "setting-query-loss",
        "setting-local-centre",
        "confidence-volume",
        "confidence-measure",
    ):
        assert info.get(elem_id) and len(info[elem_id]) > 40, elem_id


@pytest.mark.browser
def test_the_page_address_holds_the_view_in_chromium(url: str) -> None:
    """A link with a view opens it (pair, settings, pixel, confidence view); a click writes
    the new pixel into the address, which reopens the same view."""
    _need_chromium()
    query = "?pair=chelsea-shift&x=100&y=60&working_size=240&num_iter=2&colours=shared&hide=40"
    with browser_page(url.rstrip("/") + "/" + query) as page:
        page.wait_for_function(
            "() => { const s = document.querySelector('#status')?.innerText || '';"
            " return s.includes('chelsea-shift') && s.includes('feature cell (12, 7)'); }",
            timeout=120_000,
        )

        def checked(elem_id: str) -> list[str]:
            return page.eval_on_selector_all(
                f"#{elem_id} input", "els => els.filter(e => e.checked).map(e => e.value)"
            )

        page.locator("#settings").get_by_text("Settings:").first.click()  # shows its controls
        page.wait_for_selector("#setting-working-size input")
        assert checked("setting-working-size") == ["240"]
        assert checked("colour-scale") == [render.COLOUR_SCALES[1]]
        assert checked("example") == ["chelsea-shift"]
        assert page.eval_on_selector("#setting-num-iter input[type=range]", "e => e.value") == "2"
        assert page.eval_on_selector("#confidence-hidden input[type=range]", "e => e.value") == "40"
        _wait_for_pair(page, "chelsea-shift", ["target", "gocor-global"])
        marker = _marker_centre(page, str(_sources(page, ["target"])["target"]))
        size = page.eval_on_selector("#target img", "img => [img.naturalWidth, img.naturalHeight]")
        scale = size[0] / 240  # the target is shown enlarged
        assert abs(marker[0] / scale - 99.5) < 8 and abs(marker[1] / scale - 59.5) < 8
        # A click: the address follows, keeping the rest of the view.
        click_target(page, 0.25, 0.5)
        page.wait_for_function(
            "() => new URL(location.href).searchParams.get('x') !== '100'", timeout=30_000
        )
        params = page.evaluate("() => Object.fromEntries(new URL(location.href).searchParams)")
        assert abs(float(params["x"]) - 0.25 * 240) <= 8
        assert params["pair"] == "chelsea-shift" and params["working_size"] == "240"
        assert params["colours"] == "shared" and params["hide"] == "40"
        cell = re.search(r"feature cell \((\d+), (\d+)\)", page.inner_text("#status"))
        assert cell is not None
        # The address reopens the same view in a new page.
        page.goto(page.url)
        page.wait_for_function(
            "(cell) => (document.querySelector('#status')?.innerText || '').includes(cell)",
            arg=cell.group(0),
            timeout=120_000,
        )
        page.locator("#settings").get_by_text("Settings:").first.click()
        page.wait_for_selector("#setting-working-size input")
        assert checked("setting-working-size") == ["240"]


@pytest.mark.browser
def test_downloads_are_of_the_current_view_in_chromium(url: str, tmp_path: Path) -> None:
    """Each download button gives the file of what the page shows now: after a click the
    score maps are the new pixel's, and the pictures' zip is withdrawn until made again."""
    _need_chromium()
    with browser_page(url) as page:
        page.locator("#export").get_by_text("Export:").first.click()
        button = page.locator("#score-maps-file")
        button.scroll_into_view_if_needed()

        def download(locator) -> Path:
            with page.expect_download(timeout=60_000) as started:
                locator.click()
            path = tmp_path / started.value.suggested_filename
            started.value.save_as(path)
            return path

        first = download(button)
        opened = example_names()[0]  # the first screen's pair
        assert first.name.startswith(f"{opened}.score-maps.cell-") and first.suffix == ".npy"
        click_target(page, 0.2, 0.3)
        page.wait_for_function(
            "(name) => !document.querySelector('#score-maps-file').outerHTML.includes(name)",
            arg=first.name,
            timeout=30_000,
        )
        second = download(page.locator("#score-maps-file"))
        cell = re.search(r"feature cell \((\d+), (\d+)\)", page.inner_text("#status"))
        assert cell is not None and second.name.endswith(f"cell-{cell[1]}-{cell[2]}.npy")
        assert not np.array_equal(np.load(first), np.load(second))
        # The pictures: made on request, then withdrawn when a picture changes.
        pictures = page.locator("#pictures-file")
        assert pictures.is_disabled()
        page.locator("#make-pictures").click()
        page.wait_for_function(
            "() => !document.querySelector('#pictures-file').disabled", timeout=120_000
        )
        archive = download(pictures)
        assert archive.name == f"{opened}.pictures.zip"
        click_target(page, 0.6, 0.6)
        page.wait_for_function(
            "() => document.querySelector('#pictures-file').disabled", timeout=30_000
        )


@contextlib.contextmanager
def _explorer_process(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """``python -m explorer`` on a free port, its temporary files under ``tmp_path``; yields
    its address, the process and the seconds it took to answer its first request."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temporary, cache = tmp_path / "tmp", tmp_path / "gradio"
    temporary.mkdir()
    env = dict(os.environ, TMPDIR=str(temporary), GRADIO_TEMP_DIR=str(cache), OMP_NUM_THREADS="1")
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "explorer", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                assert time.monotonic() - started < 240, "the explorer never answered"
                time.sleep(0.2)
        yield url, server, time.monotonic() - started
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_the_files_it_writes_are_deleted_when_the_server_stops(tmp_path: Path) -> None:
    """``python -m explorer`` stopped by SIGTERM (as a service manager stops it) deletes the
    pictures it served and the files it exported; it wrote both while it ran."""
    from gradio_client import Client

    temporary, cache = tmp_path / "tmp", tmp_path / "gradio"
    with _explorer_process(tmp_path) as (url, server, _):
        client = Client(url, verbose=False)
        client.predict(40, 30, api_name="/select_pixel")

        def written() -> list[Path]:
            pictures = [p for p in cache.glob("explorer-*/**/*") if p.is_file()]
            exports = [p for p in temporary.glob("gocor-explorer-exports-*/**/*") if p.is_file()]
            return pictures + exports

        made = written()
        assert any(p.suffix == ".jpeg" for p in made), made  # the pictures it served
        assert any(p.suffix == ".npy" for p in made), made  # the clicked cell's score maps
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        assert written() == [], "files outlived the server"
        assert not list(cache.glob("explorer-*")) and not list(temporary.glob("gocor-explorer-*"))


@pytest.mark.browser
@pytest.mark.slow
def test_it_serves_before_the_first_pair_is_computed_then_shows_it(tmp_path: Path) -> None:
    """``python -m explorer`` answers before computing the first pair (it is computed once the
    server is up); a page opened at once shows the pair, then every panel, with no error."""
    _need_chromium()
    with _explorer_process(tmp_path) as (url, _, seconds):
        print(f"python -m explorer answered its first request after {seconds:.1f} s")
        with browser_page(url, timeout_ms=180_000) as page:  # waits for GOCor's panel
            sources = image_sources(page)
            assert all(sources.values()), sources
            assert "went wrong" not in page.inner_text("#status")


def test_the_api_names_its_parameters_and_outputs(client) -> None:
    """Every public endpoint's parameters and outputs carry names (Gradio falls back to
    ``param_N`` and ``value_N`` for unnamed ones), and a call by name works."""
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert "/select_pixel" in info and "/apply_settings" in info
    for endpoint, about in info.items():
        names = [item["parameter_name"] for item in about["parameters"]]
        labels = [item["label"] for item in about["returns"]]
        unnamed = [n for n in names + labels if re.fullmatch(r"(param|value)_\d+", str(n))]
        assert not unnamed, (endpoint, unnamed)
    assert [p["parameter_name"] for p in info["/select_pixel"]["parameters"]] == ["x", "y"]
    status = _status(client.predict(x=48, y=30, api_name="/select_pixel"))
    assert "cell" in status, status


def test_values_out_of_range_are_refused_in_words_without_a_traceback(client, capfd) -> None:
    """A value no control could send (out of a slider's range, not a number, not one of the
    radio's choices) reaches the action and is refused in a sentence; the server's console
    shows no traceback for it (Gradio's own range check answered with a generic error and
    printed one per value)."""
    capfd.readouterr()
    for value in ("abc", 99, -1, 2.5, None):
        status = _status(client.predict(iteration=value, api_name="/set_iteration"))
        assert "must be a whole number from 0 to" in status and repr(value) in status, status
    status = _status(client.predict(colour_scale="rainbow", api_name="/set_colour_scale"))
    assert "the colour scale must be one of" in status, status
    long = "x" * 100_000  # echoed cut short, in the reply and in the log
    for endpoint, name in (("/set_iteration", "iteration"), ("/choose_example", "name")):
        status = _status(client.predict(**{name: long}, api_name=endpoint))
        assert "xxx" in status and len(status) < 3000, (endpoint, len(status))
    logged = capfd.readouterr()
    assert "Traceback" not in logged.err and long not in logged.err + logged.out
