# SPDX-License-Identifier: MIT
"""The explorer's events without Gradio: the keep/draw/clear rule for every output, refusals
that set controls back, computations that a newer request supersedes, a click during a
computation, and a pipeline shared by threads."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.handlers import Explorer
from explorer.network_compute import NetworkViews
from explorer.outputs import PICTURES, Screen
from explorer.pipeline import InputError, Pipeline, Settings
from explorer.state import KEEP, Session, View
from gocor_lite.data.pairs import ExamplePair

SMALL = Settings(working_size=160, num_iter=2, search_radius=3)
# The outputs drawn from the pair (all but the colour bar, which shows the colour scale only).
OF_THE_PAIR = [name for name in PICTURES if name != "colour_bar"] + ["table"]


@pytest.fixture(scope="module")
def explorer(small_glunet_file: Path) -> Explorer:
    torch.set_num_threads(2)
    pipeline = Pipeline()
    return Explorer(pipeline, SMALL, NetworkViews(pipeline, small_glunet_file))


class Page:
    """What a browser shows: each output's value and the pair label it was drawn for."""

    def __init__(self) -> None:
        self.shown: dict[str, tuple[str, Any]] = {}

    def apply(self, screen: Screen) -> Screen:
        for name, value in screen.values.items():
            if name in (*PICTURES, "table", "flow_status"):
                self.shown[name] = (screen.label, value)
        return screen

    def labels(self) -> dict[str, str]:
        """The pair label of every output of the pair that shows something."""
        return {
            name: label
            for name, (label, value) in self.shown.items()
            if name in OF_THE_PAIR and value is not None
        }


def _act(explorer: Explorer, session: Session, page: Page, screen: Screen) -> Screen:
    page.apply(screen)
    while screen.compute:
        screen = page.apply(explorer.fulfil(session))
    return screen


def _shown_session(explorer: Explorer, name: str = "brick-shift") -> tuple[Session, Page]:
    session = Session(View(explorer.pipeline.example_pair(name), SMALL, (60.0, 50.0), 2))
    page = Page()
    _act(explorer, session, page, explorer.redraw(session))
    return session, page


def _image(path: Path, height: int, width: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    Image.fromarray(np.kron(small, np.ones((8, 8, 1), np.uint8))[:height, :width]).save(path)
    return str(path)


def test_a_click_sends_only_what_it_changes(explorer: Explorer) -> None:
    session, _ = _shown_session(explorer)
    screen = explorer.click(session, 100, 70)
    drawn = {name for name in (*PICTURES, "table") if getattr(screen, name) is not KEEP}
    expected = {"target", "local_correlation", "global_correlation", "gocor_global"}
    expected |= {"gocor_local", "strip", "table", "source"}  # brick-shift: the true match moves
    expected |= {"rules_panel"}  # every matching rule's map of the clicked cell
    expected |= {"arithmetic"}  # the clicked cell's scores term by term
    assert drawn == expected
    assert screen.settings is KEEP and screen.example is KEEP and screen.iteration is KEEP
    assert screen.flow_status is KEEP and not screen.compute
    # Of the whole-image outputs only the clicked cell's file and the link change.
    assert isinstance(screen.score_maps_file, str) and isinstance(screen.link, str)
    for name in ("rules_table", "confidence_map", "match_map", "matches_file", "confidence_status"):
        assert getattr(screen, name) is KEEP, name
    # The same click again changes nothing.
    again = explorer.click(session, 100, 70)
    assert all(getattr(again, name) is KEEP for name in (*PICTURES, "table"))


def test_a_new_pair_clears_its_maps_until_they_are_computed(explorer: Explorer) -> None:
    session, page = _shown_session(explorer)
    screen = page.apply(explorer.choose_example(session, "stereo-motorcycle"))
    if screen.compute:  # not yet in memory: the maps of the old pair are cleared at once
        for name in ("local_correlation", "gocor_global", "strip", "losses", "table"):
            assert getattr(screen, name) is None, name
        assert "Computing" in screen.status
    # The images of the new pair are drawn at once (they need no computation).
    assert isinstance(screen.target, np.ndarray) and isinstance(screen.source, np.ndarray)
    assert screen.label == "stereo-motorcycle" and "**stereo-motorcycle**" in screen.status
    _act(explorer, session, page, screen)
    assert set(page.labels().values()) == {"stereo-motorcycle"}
    assert "Best matches of target cell" in page.shown["table"][1]
    assert "**stereo-motorcycle**" in page.shown["table"][1]


@pytest.mark.slow
def test_every_output_belongs_to_the_current_pair_along_a_walk(
    explorer: Explorer, tmp_path: Path
) -> None:
    """Pair with ground truth and the flow view open -> upload without ground truth ->
    synthetic warp -> a bundled pair again: after each step, every output of the pair on the
    page was drawn for that pair (none left from the one before)."""
    session, page = _shown_session(explorer, "stereo-motorcycle")
    _act(explorer, session, page, explorer.open_flow(session))
    assert (
        page.shown["flow_error"][1] is not None
        and "Average endpoint error" in (page.shown["flow_status"][1])
    )
    steps = [
        lambda: explorer.upload_pair(
            session, _image(tmp_path / "a.png", 96, 128, 1), _image(tmp_path / "b.png", 96, 128, 2)
        ),
        lambda: explorer.make_synthetic(session, None, 7, "homography"),
        lambda: explorer.choose_example(session, "chelsea-shift"),
    ]
    previous = "stereo-motorcycle"
    for step in steps:
        screen = _act(explorer, session, page, step())
        label = screen.label
        assert label != previous
        labels = page.labels()
        assert set(labels) == set(OF_THE_PAIR)  # every output of the pair shows a picture
        assert set(labels.values()) == {label}, labels  # ... drawn for this pair
        assert page.shown["flow_status"][0] == label
        previous = label
    # The upload had no ground truth: its flow error was the all-unknown map, not the stereo's.
    assert label == "chelsea-shift"


def test_without_ground_truth_the_flow_error_says_so(explorer: Explorer, tmp_path: Path) -> None:
    session, page = _shown_session(explorer, "stereo-motorcycle")
    _act(explorer, session, page, explorer.open_flow(session))
    target, source = _image(tmp_path / "t.png", 96, 128, 3), _image(tmp_path / "s.png", 96, 128, 4)
    screen = _act(explorer, session, page, explorer.upload_pair(session, target, source))
    label, error = page.shown["flow_error"]
    assert label == screen.label and isinstance(error, np.ndarray)
    assert "No ground truth for this pair" in page.shown["flow_status"][1]
    assert "3.62" not in page.shown["flow_status"][1]


def test_a_refused_setting_is_set_back_and_nothing_else_changes(explorer: Explorer) -> None:
    session, _ = _shown_session(explorer)
    view = session.view
    browser = {**dataclasses.asdict(view.settings), "features": "vgg16"}  # what the page shows
    browser.pop("weights"), browser.pop("feature_weights")
    screen = explorer.apply_settings(session, browser)
    assert screen.warning and "the vgg16 features need a weights file you have" in screen.status
    assert screen.settings == view.settings  # the control goes back to "xfeat"
    assert all(getattr(screen, name) is KEEP for name in (*PICTURES, "table"))
    assert session.view == view and not screen.compute
    # The next change applies normally (no error that sticks).
    later = explorer.apply_settings(session, {**browser, "features": "xfeat", "num_iter": 1})
    assert not later.warning and later.view.settings.num_iter == 1


def test_a_click_during_a_computation_is_applied_when_it_finishes(explorer: Explorer) -> None:
    session, page = _shown_session(explorer)
    new = dataclasses.replace(SMALL, num_iter=1, search_radius=2)  # not computed yet
    request = page.apply(explorer.apply_settings(session, dataclasses.asdict(new)))
    assert request.compute
    click = page.apply(explorer.click(session, 40, 30))
    assert isinstance(click.target, np.ndarray)  # the marker moves at once
    assert click.strip is KEEP and not click.compute  # the maps wait for the computation
    assert "a click meanwhile is shown when they are ready" in click.status
    done = page.apply(explorer.fulfil(session))
    assert isinstance(done.strip, np.ndarray)
    assert "cell (5, 3)" in done.status  # 40 // 8, 30 // 8: the click, not the old pixel
    assert done.view.settings == dataclasses.replace(SMALL, num_iter=1, search_radius=2)


@pytest.mark.slow
def test_a_newer_request_supersedes_a_running_computation(explorer: Explorer) -> None:
    """A computation stops at its next step when the session asked for something else; the
    newer one is then computed and shown."""
    session, page = _shown_session(explorer)
    first = dataclasses.replace(SMALL, num_iter=3, search_radius=1)
    second = dataclasses.replace(SMALL, num_iter=4, search_radius=1)
    assert page.apply(explorer.apply_settings(session, dataclasses.asdict(first))).compute
    started, release = threading.Event(), threading.Event()
    results: list[Screen] = []

    def progress(fraction: float, message: str) -> None:
        started.set()
        release.wait(30)

    worker = threading.Thread(target=lambda: results.append(explorer.fulfil(session, progress)))
    worker.start()
    assert started.wait(30)
    assert page.apply(explorer.apply_settings(session, dataclasses.asdict(second))).compute
    release.set()
    worker.join(60)
    superseded = results[0]
    assert all(getattr(superseded, name) is KEEP for name in (*PICTURES, "table"))
    assert explorer.pipeline.cached(session.view.pair_id, first) is None  # given up
    done = page.apply(explorer.fulfil(session))
    assert done.view.settings == second and isinstance(done.strip, np.ndarray)


def test_a_failed_computation_restores_the_last_view_that_worked(
    explorer: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, page = _shown_session(explorer)
    view = session.view
    broken = dataclasses.replace(SMALL, num_iter=5)
    original = explorer.pipeline._compute

    def compute(pair_id: str, settings: Settings, *options: Any) -> Any:
        if settings == broken:
            raise InputError("GOCor cannot run on these features: a test")
        return original(pair_id, settings, *options)

    monkeypatch.setattr(explorer.pipeline, "_compute", compute)
    assert page.apply(explorer.apply_settings(session, dataclasses.asdict(broken))).compute
    failed = page.apply(explorer.fulfil(session))
    assert failed.warning and "a test; the page shows the last settings that worked" in (
        failed.status
    )
    assert session.view == view and failed.settings == view.settings
    assert isinstance(failed.strip, np.ndarray)  # the maps of the view that worked, again
    assert not failed.compute


def test_concurrent_requests_for_one_result_compute_it_once(monkeypatch: pytest.MonkeyPatch):
    pipeline = Pipeline()
    pair_id = pipeline.example_pair("gravel-warp")
    calls = []
    original = pipeline._compute

    def compute(*args: Any) -> Any:
        calls.append(args)
        time.sleep(0.3)  # long enough for the other thread to ask meanwhile
        return original(*args)

    monkeypatch.setattr(pipeline, "_compute", compute)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(pipeline.compute(pair_id, SMALL)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(calls) == 1 and len(results) == 3
    assert all(result is results[0] for result in results)


@pytest.mark.slow
def test_the_pipeline_is_safe_under_concurrent_use() -> None:
    """Threads computing, looking up, probing and adding pairs at once get what one thread
    alone gets (compared with results computed one at a time)."""
    shared = Pipeline(max_results=2)  # small: evictions happen while others read
    alone = Pipeline()
    pairs = ["brick-shift", "chelsea-shift", "gravel-warp"]
    settings = [SMALL, dataclasses.replace(SMALL, num_iter=1)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        rng = np.random.default_rng(index)
        try:
            for step in range(4):
                name = pairs[(index + step) % len(pairs)]
                chosen = settings[(index * 7 + step) % len(settings)]
                pair_id = shared.example_pair(name)
                computed = shared.compute(pair_id, chosen)
                expected = alone.compute(alone.example_pair(name), chosen)
                assert torch.equal(computed.correlation, expected.correlation)
                probe = shared.probe(computed, (30.0, 20.0), 1)
                assert probe.cell == (3, 2)
                shared.cached(pair_id, chosen)
                image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
                shared.add_pair(ExamplePair("upload", f"{index}-{step}", image, image))
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    assert len(shared._results) <= 2
