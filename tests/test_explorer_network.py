# SPDX-License-Identifier: MIT
"""The explorer's network view without Gradio: the network selector (this project's two
networks from a file of random weights, the authors' from synthetic checkpoints with the
released names and shapes), every refusal in the user's words with the radio buttons set back,
the flow and its error checked against the network run directly and a numpy endpoint error,
and each level's maps following the click."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import explorer.network_compute as network_compute
from explorer import render
from explorer.handlers import Explorer
from explorer.network_compute import NETWORKS, NetworkChoice, NetworkViews, estimate_seconds, probe
from explorer.outputs import Screen
from explorer.pipeline import Pipeline, Settings
from explorer.state import KEEP, Session, View
from gocor_lite.files.weights import load_small_glunet
from gocor_lite.glunet import load_official_glunet

SMALL = Settings(working_size=160, num_iter=2, search_radius=3)
GOCOR, CORRELATION, AUTHORS = list(NETWORKS)


@pytest.fixture(scope="module")
def authors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Synthetic checkpoints of both released networks (full size: the authors' network has no
    small form), GLU-Net-GOCor wrapped as {'state_dict': ...} as released."""
    from tests.test_glunet import random_checkpoint

    folder = tmp_path_factory.mktemp("authors")
    files = {}
    for name, gocor in (("GLUNet_GOCor", True), ("GLUNet", False)):
        state = random_checkpoint(gocor, seed=3)
        files[name] = folder / f"{name}_static.pth"
        torch.save({"state_dict": state, "epoch": 7} if gocor else state, files[name])
    return files


@pytest.fixture(scope="module")
def explorer(small_glunet_file: Path) -> Explorer:
    torch.set_num_threads(2)
    pipeline = Pipeline()
    return Explorer(pipeline, SMALL, NetworkViews(pipeline, small_glunet_file))


def _done(explorer: Explorer, session: Session, screen: Screen) -> Screen:
    """An action followed by the computations it asked for (what an API call returns)."""
    while screen.compute:
        screen = screen.merged(explorer.fulfil(session))
    return screen


def _session(explorer: Explorer, name: str = "astronaut-warp") -> Session:
    session = Session(View(explorer.pipeline.example_pair(name), SMALL, (70.0, 60.0), 2))
    _done(explorer, session, explorer.redraw(session))
    return session


def _endpoint_error(flow: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance between two flows (2, H, W) over the pixels whose truth is known."""
    distance = np.sqrt(((flow - truth) ** 2).sum(axis=0))
    return float(distance[np.isfinite(distance)].mean())


def test_this_projects_networks_run_in_the_view(explorer: Explorer, small_glunet_file: Path):
    session = _session(explorer)
    opened = explorer.open_flow(session)
    assert opened.compute and not isinstance(opened.flow, np.ndarray)  # until it is traced
    screen = _done(explorer, session, opened)
    for name in ("flow", "warped", "flow_error", "flow_levels", "network_levels"):
        assert isinstance(getattr(screen, name), np.ndarray), name
    assert GOCOR in screen.flow_status and "`small-gocor`" in screen.flow_status
    view = session.view
    computed = explorer.networks.cached(view.pair_id, view.settings, view.network)
    assert computed is not None and view.network == NetworkChoice("gocor")
    pair = computed.pair  # the working pair: what the page shows and the click is on
    assert (
        pair.target.shape == explorer.pipeline.working_pair(view.pair_id, SMALL).pair.target.shape
    )
    # The view's flow is the network's own, on these images, from the file given.
    network = load_small_glunet("gocor", path=small_glunet_file)
    expected = network.estimate_flow(pair.target, pair.source)[0].numpy()
    np.testing.assert_allclose(computed.trace.estimated_flow[0].numpy(), expected, atol=1e-4)
    assert pair.flow is not None
    mean = _endpoint_error(expected, pair.flow)
    assert computed.mean_error == pytest.approx(mean, rel=1e-4)
    assert f"Average endpoint error: {mean:.2f} px" in screen.flow_status
    assert [level.gocor is not None for level in computed.trace.levels] == [True] * 4
    # The other network of this project: its own flow, feature correlation at every level.
    choice = explorer.choose_network(session, CORRELATION)
    assert choice.compute and choice.view.network == NetworkChoice("correlation")
    assert choice.network_choice is KEEP  # the radio shows it already: the user chose it
    other = _done(explorer, session, choice)
    assert CORRELATION in other.flow_status and "`small-correlation`" in other.flow_status
    result = explorer.networks.cached(view.pair_id, view.settings, NetworkChoice("correlation"))
    assert result is not None and all(level.gocor is None for level in result.trace.levels)
    plain = load_small_glunet("correlation", path=small_glunet_file)
    np.testing.assert_allclose(
        result.trace.estimated_flow[0].numpy(),
        plain.estimate_flow(pair.target, pair.source)[0].numpy(),
        atol=1e-4,
    )
    # Back to GOCor: in memory, drawn at once.
    back = explorer.choose_network(session, GOCOR)
    assert not back.compute and isinstance(back.flow, np.ndarray)


def test_each_levels_maps_follow_the_click(explorer: Explorer) -> None:
    session = _session(explorer, "brick-shift")
    shown = _done(explorer, session, explorer.open_flow(session))
    first = shown.network_levels
    assert isinstance(first, np.ndarray)
    click = explorer.click(session, 100, 40)
    assert isinstance(click.network_levels, np.ndarray) and not np.array_equal(
        click.network_levels, first
    )
    assert click.flow is KEEP and click.flow_levels is KEEP and not click.compute
    assert explorer.click(session, 100, 40).network_levels is KEEP  # the same click: nothing
    view = session.view
    computed = explorer.networks.cached(view.pair_id, view.settings, view.network)
    assert computed is not None
    levels = probe(computed, view.pixel)
    assert [level.key for level in levels] == ["level4", "level3", "level2", "level1"]
    for level, trace_level in zip(levels, computed.trace.levels, strict=True):
        height, width = trace_level.target_frame.grid
        target_height, target_width = computed.pair.target.shape[:2]
        # The clicked pixel (100, 40) lies in this level's cell, its grid evenly covering it.
        assert level.cell == (
            math.floor(100.5 * width / target_width),
            math.floor(40.5 * height / target_height),
        )
        assert trace_level.gocor is not None  # one map per GOCor iteration 0..K
        assert len(level.maps) == len(trace_level.gocor.volumes) == 4
    # With the section closed a click leaves the level maps (cleared once) alone.
    closed = explorer.close_flow(session)
    assert closed.network_levels is None
    assert explorer.click(session, 30, 30).network_levels is KEEP


def test_the_authors_networks_from_their_files(explorer: Explorer, authors: dict[str, Path]):
    session = _session(explorer, "stereo-motorcycle")
    path = authors["GLUNet_GOCor"]
    given = explorer.use_network_file(session, str(path))  # giving the file chooses it
    assert not given.warning, given.status
    assert given.network_choice == NetworkChoice("authors", str(path))  # the radio follows
    assert "the authors' GLU-Net-GOCor (GLUNet\\_GOCor\\_static.pth)" in given.status
    screen = _done(explorer, session, given)
    assert "`GLUNet_GOCor`" in screen.flow_status and "Average endpoint error" in screen.flow_status
    assert isinstance(screen.network_levels, np.ndarray)
    view = session.view
    computed = explorer.networks.cached(view.pair_id, view.settings, view.network)
    assert computed is not None
    assert all(level.gocor is not None for level in computed.trace.levels)
    assert len(computed.trace.level("level4").gocor.volumes) == 4  # type: ignore[union-attr]
    network = load_official_glunet(path)
    expected = network.estimate_flow(computed.pair.target, computed.pair.source)
    torch.testing.assert_close(computed.trace.estimated_flow, expected, atol=1e-4, rtol=1e-4)
    # The variant is told from the keys: the same radio button loads GLU-Net.
    plain = NetworkChoice("authors", str(authors["GLUNet"]))
    assert explorer.networks.describe(plain) == "the authors' GLU-Net (GLUNet_static.pth)"
    assert explorer.networks.network(plain).corr is None


def _refused(
    explorer: Explorer, session: Session, screen: Screen, before: View, *parts: str, radio=True
):
    """A refusal: said in the status and in the network view, the radio buttons set back (when
    the refused choice came from them; a refused file leaves them as they are), nothing else
    changed, no path of the server's."""
    assert screen.warning and not screen.compute and session.view == before
    assert screen.network_choice == (before.network if radio else KEEP)
    assert isinstance(screen.flow_status, str) and screen.flow_status.startswith("⚠️")
    text = screen.status + screen.flow_status
    for part in parts:
        assert part in text, (part, text)
    assert "/tmp" not in text and "weights_only" not in text
    assert all(getattr(screen, name) is KEEP for name in ("flow", "network_levels", "strip"))


def test_files_the_authors_network_cannot_use_are_refused(
    explorer: Explorer, tmp_path: Path, small_glunet_file: Path
) -> None:
    session = _session(explorer)
    _done(explorer, session, explorer.choose_network(session, CORRELATION))
    before = session.view
    other = tmp_path / "resnet.pth"
    torch.save(torch.nn.Linear(3, 2).state_dict(), other)
    screen = explorer.choose_network(session, AUTHORS, str(other))
    _refused(explorer, session, screen, before, "resnet.pth", "none of GLU-Net's keys", "'weight'")
    # This project's own file is another network's file for the authors' loader.
    screen = explorer.use_network_file(session, str(small_glunet_file))
    _refused(explorer, session, screen, before, "glunet\\_small.pt", "none of", radio=False)
    pickled = tmp_path / "whole_model.pth"
    torch.save({"model": torch.nn.Linear(2, 2)}, pickled)
    screen = explorer.use_network_file(session, str(pickled))
    _refused(explorer, session, screen, before, "whole\\_model.pth", "read safely", radio=False)
    truncated = tmp_path / "cut.pth"
    truncated.write_bytes(b"PK\x03\x04 not a whole file")
    screen = explorer.use_network_file(session, str(truncated))
    _refused(explorer, session, screen, before, "cut.pth", "not a PyTorch", radio=False)
    screen = explorer.choose_network(session, AUTHORS, None)
    _refused(explorer, session, screen, before, "give the authors' weights file first")
    screen = explorer.choose_network(session, "a network of my own", None)
    _refused(explorer, session, screen, before, "the network must be one of")
    # The session goes on: the next choice applies.
    assert not explorer.choose_network(session, GOCOR).warning


def test_without_the_trained_file_the_view_says_run_make_train(tmp_path: Path) -> None:
    pipeline = Pipeline()
    missing = NetworkViews(pipeline, tmp_path / "glunet_small.pt")
    explorer = Explorer(pipeline, SMALL, missing)
    session = Session(View(pipeline.example_pair("brick-shift"), SMALL, (40.0, 40.0), 2))
    screen = _done(explorer, session, explorer.open_flow(session))
    assert isinstance(screen.flow_status, str) and screen.flow_status.startswith("⚠️")
    assert "run `make train`" in screen.flow_status and str(tmp_path) not in screen.flow_status
    assert screen.flow is None and screen.network_levels is None  # nothing stale, nothing else
    assert isinstance(screen.strip, np.ndarray)  # the score maps are unaffected
    before = session.view
    refused = explorer.choose_network(session, CORRELATION)
    assert refused.warning and "run `make train`" in refused.status
    assert refused.network_choice == before.network and session.view == before


def test_a_network_too_slow_for_the_budget_is_refused_up_front(
    explorer: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1.5 x (0 + 1.2e-4 s per pixel): 256 x 256 px (any working resolution up to 256 px) takes
    # 11.8 s, more than the 10 s allowed; so does every smaller one (images are enlarged to 256).
    monkeypatch.setitem(network_compute.NETWORK_SECONDS, "small-correlation", (0.0, 1.2e-4))
    session = _session(explorer, "brick-shift")
    before = session.view
    screen = explorer.choose_network(session, CORRELATION)
    _refused(explorer, session, screen, before, "would take about 12 s", "choose another network")
    # At 1e-4 s per pixel, 320 px (320 x 256) takes 12.3 s and 240 px (256 x 256) 9.8 s.
    monkeypatch.setitem(network_compute.NETWORK_SECONDS, "small-correlation", (0.0, 1e-4))
    large = dataclasses.replace(SMALL, working_size=320)
    session = Session(View(explorer.pipeline.example_pair("brick-shift"), large, (40.0, 40.0), 2))
    _done(explorer, session, explorer.redraw(session))
    before = session.view
    screen = explorer.choose_network(session, CORRELATION)
    _refused(explorer, session, screen, before, "a working resolution of 240 px or less")


def test_the_cost_model_counts_the_networks_working_pixels() -> None:
    # Images below 256 px a side are enlarged to 256: the same cost.
    assert estimate_seconds("GLUNet", (120, 160)) == estimate_seconds("GLUNet", (256, 256))
    base, per_pixel = network_compute.NETWORK_SECONDS["GLUNet"]
    assert estimate_seconds("GLUNet", (360, 480)) == pytest.approx(
        network_compute.MARGIN * (base + per_pixel * 360 * 480)
    )
    assert estimate_seconds("GLUNet_GOCor", (360, 480)) > estimate_seconds(
        "small-gocor", (360, 480)
    )
    assert estimate_seconds("unknown", (256, 256)) == max(
        estimate_seconds(name, (256, 256)) for name in network_compute.NETWORK_SECONDS
    )


def test_flow_pictures_and_a_pair_without_ground_truth(explorer: Explorer, tmp_path: Path):
    from gocor_lite.pictures.flow_colours import UNKNOWN_COLOUR

    session = _session(explorer, "brick-shift")
    screen = _done(explorer, session, explorer.open_flow(session))
    assert isinstance(screen.flow, np.ndarray) and isinstance(screen.warped, np.ndarray)
    assert screen.flow.shape[1] >= render.MIN_DISPLAY_SIDE  # enlarged like the other pictures
    assert isinstance(screen.flow_error, np.ndarray)  # the bundled pair has a ground truth
    levels = screen.flow_levels
    assert isinstance(levels, np.ndarray) and levels.shape[1] > 4 * render.TILE_WIDTH
    legend = render.flow_legend()
    middle = legend.shape[0] // 2
    assert legend[middle, middle].tolist() == [255, 255, 255]
    rng = np.random.default_rng(3)
    small = rng.integers(0, 255, (13, 17, 3), dtype=np.uint8)
    path = tmp_path / "t.png"
    Image.fromarray(np.kron(small, np.ones((8, 8, 1), np.uint8))[:96, :128]).save(path)
    other = _done(explorer, session, explorer.upload_pair(session, str(path), str(path)))
    assert isinstance(other.flow_error, np.ndarray) and "No ground truth" in other.flow_status
    middle_row = other.flow_error[other.flow_error.shape[0] // 2]
    assert (middle_row == UNKNOWN_COLOUR).all(axis=-1).mean() > 0.9
    assert isinstance(other.network_levels, np.ndarray)  # drawn, without true matches
