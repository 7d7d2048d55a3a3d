# SPDX-License-Identifier: MIT
"""The explorer without Gradio: settings in, volumes and probes out; every bad input a message."""

from __future__ import annotations

import dataclasses
import math
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import render, rules_render
from explorer.handlers import Explorer
from explorer.outputs import Screen
from explorer.pipeline import InputError, Pipeline, Settings, pair_from_files
from explorer.state import KEEP, Session, View
from gocor_lite.core.features import FeatureExtractor
from gocor_lite.data.pairs import ExamplePair
from tests.by_hand import peak_ratio_by_loops

SMALL = Settings(working_size=160, num_iter=2, search_radius=3)


def _session(
    explorer: Explorer, name: str = "chelsea-shift", pixel: tuple[float, float] = (50.0, 50.0)
) -> Session:
    """A session whose page shows a bundled pair at SMALL, everything drawn."""
    session = Session(View(explorer.pipeline.example_pair(name), SMALL, pixel, 2))
    _done(explorer, session, explorer.redraw(session))
    return session


def _done(explorer: Explorer, session: Session, screen: Screen) -> Screen:
    """An action followed by the computation it asked for (what an API call returns)."""
    return screen.merged(explorer.fulfil(session)) if screen.compute else screen


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    torch.set_num_threads(2)
    return Pipeline()


@pytest.fixture(scope="module")
def explorer(pipeline: Pipeline) -> Explorer:
    return Explorer(pipeline, SMALL)


def test_settings_reject_what_they_do_not_know() -> None:
    for bad in (
        {"working_size": 333},
        {"num_iter": -1},
        {"num_iter": 2.5},
        {"search_radius": 0},
        {"query_loss": True, "working_size": 480},
        {"features": "nope"},
        {"initializer": "nope"},
    ):
        with pytest.raises(InputError):
            SMALL.updated(bad)
    assert SMALL.updated({"num_iter": 4.0}).num_iter == 4  # slider values come as floats


def test_compute_is_cached_and_has_the_documented_shapes(pipeline: Pipeline) -> None:
    pair_id = pipeline.example_pair("chelsea-shift")
    computed = pipeline.compute(pair_id, SMALL)
    assert pipeline.compute(pair_id, SMALL) is computed  # a click never recomputes
    height, width = computed.target_grid
    source_height, source_width = computed.source_grid
    assert computed.pair.target.shape[:2] == (height * 8, width * 8)
    assert max(computed.pair.target.shape[:2]) == 160
    assert computed.correlation.shape == (height, width, source_height, source_width)
    assert computed.self_correlation.shape == (height, width, height, width)
    assert computed.local.shape == (height, width, 7, 7)
    assert computed.num_iter == 2
    assert len(computed.global_trace.volumes) == len(computed.local_trace.volumes) == 3
    assert computed.notes  # the 320x240 crops were scaled to 160 px, and the user is told


def test_the_cache_keeps_to_its_memory_budget() -> None:
    pipeline = Pipeline(max_results=5, max_bytes=1)  # only the newest result fits
    pair_id = pipeline.example_pair("chelsea-shift")
    first = pipeline.compute(pair_id, SMALL)
    assert first.nbytes > 1_000_000
    second = pipeline.compute(pair_id, SMALL.updated({"num_iter": 1}))
    assert pipeline.compute(pair_id, SMALL.updated({"num_iter": 1})) is second
    assert pipeline.compute(pair_id, SMALL) is not first  # evicted, recomputed


def test_probe_slices_the_clicked_cell(pipeline: Pipeline) -> None:
    # Windows at the same position: each reads (2R + 1)^2 distinct source cells.
    same = SMALL.updated({"local_centre": "same position"})
    computed = pipeline.compute(pipeline.example_pair("chelsea-shift"), same)
    probe = pipeline.probe(computed, (83.0, 50.0), iteration=1)
    assert probe.cell == (10, 6)
    assert probe.pixel == (83.5, 51.5)
    np.testing.assert_array_equal(
        probe.global_correlation.scores, computed.correlation[6, 10].numpy()
    )
    np.testing.assert_array_equal(
        probe.gocor_global.scores, computed.global_trace.volumes[1][6, 10].numpy()
    )
    assert len(probe.strip_source) == len(probe.strip_target) == computed.num_iter + 2
    # The chelsea pair is a known shift: errors are known and measured to the truth.
    assert probe.true_match == pytest.approx((83.5 - 50.0, 51.5 - 12.0))
    for item in probe.panels:
        assert item.error is not None
        assert item.peak == pytest.approx(np.nanmax(item.scores))
    # Local maps are NaN outside the search window, which is (2R+1) cells wide.
    local = probe.local_correlation
    assert np.isfinite(local.scores).sum() == 49
    assert local.window is not None and local.window[2] - local.window[0] == 7 * 8
    # Iterations beyond K are clamped.
    assert pipeline.probe(computed, (83.0, 50.0), iteration=9).iteration == 2


def test_local_windows_can_follow_the_coarse_flow(pipeline: Pipeline) -> None:
    settings = SMALL.updated({"local_centre": "coarse flow"})
    computed = pipeline.compute(pipeline.example_pair("chelsea-shift"), settings)
    assert computed.coarse_matches is not None
    probe = pipeline.probe(computed, (83.0, 50.0), iteration=2)
    # The window is centred on the global correlation's best match of the clicked cell.
    window = probe.local_correlation.window
    assert window is not None
    centre = ((window[0] + window[2]) / 2, (window[1] + window[3]) / 2)
    assert centre == pytest.approx(probe.global_correlation.best)


def test_renders_are_pictures_of_the_enlarged_images(pipeline: Pipeline) -> None:
    pair_id = pipeline.example_pair("chelsea-shift")
    computed = pipeline.compute(pair_id, SMALL)
    working = pipeline.working_pair(pair_id, SMALL)
    probe = pipeline.probe(computed, (40.0, 40.0), iteration=2)
    scale = render.display_scale(computed.pair.target)
    assert scale == 4  # 160 px shown at 640
    target = render.target_picture(working, probe.cell)
    assert target.shape == (computed.pair.target.shape[0] * 4, 640, 3)
    assert render.panel_scale(computed.pair.source) == 2  # the maps: at least 320 px
    for colour_scale in render.COLOUR_SCALES:
        picture = render.panel(computed, probe, probe.gocor_global, colour_scale)
        assert picture.dtype == np.uint8 and picture.shape[1] == 320
        assert render.strip(computed, probe, colour_scale).ndim == 3


def test_overlay_blends_each_cell_colour_over_the_dimmed_grey() -> None:
    """Against a direct per-pixel formula: grey = 0.8 x mean + 25.5, blended 35/65 with the
    colormap's colour of the cell's normalised score; NaN cells show the grey alone."""
    from matplotlib import colormaps

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    scores = rng.random((2, 3)).astype(np.float32)
    scores[1, 2] = np.nan
    got = render.overlay(image, scores, 8, (0.0, 1.0), alpha=0.65, scale=2).astype(float)
    grey = np.round(image.mean(axis=2) * 0.8 + 25.5)
    colours = colormaps["inferno"](np.linspace(0, 1, 256))[:, :3] * 255
    for y in range(32):
        for x in range(48):
            cell_y, cell_x = y // 16, x // 16
            value = scores[cell_y, cell_x]
            if np.isnan(value):
                expected = np.full(3, grey[y // 2, x // 2])
            else:
                colour = np.round(colours[int(np.rint(value * 255))])
                expected = grey[y // 2, x // 2] * 0.35 + colour * 0.65
            np.testing.assert_allclose(got[y, x], expected, atol=1.01)


def test_click_marks_the_cell_and_answers_outside_clicks(explorer: Explorer) -> None:
    session = _session(explorer, pixel=(10.0, 10.0))
    screen = explorer.click(session, 100, 60)
    assert screen.view.pixel == (100.0, 60.0) and session.view == screen.view
    assert screen.target is not None and screen.gocor_local is not None
    assert "cell (12, 7)" in screen.status and not screen.compute
    # The displayed picture is enlarged 4x: a click there is divided by 4.
    assert explorer.click_displayed(session, 400, 240).view.pixel == (100.0, 60.0)
    view = session.view
    for x, y in ((-1, 5), (5, 10_000), (None, 3), (float("nan"), 1), ("3", 4)):
        outside = explorer.click(session, x, y)  # type: ignore[arg-type]
        assert outside.view == view and outside.target is KEEP and outside.strip is KEEP
        assert outside.status.startswith("⚠️") and outside.warning


def test_settings_and_iteration_changes(explorer: Explorer) -> None:
    session = _session(explorer)
    view = session.view
    screen = _done(explorer, session, explorer.apply_settings(session, {"num_iter": 1.0}))
    assert screen.view.settings.num_iter == 1 and screen.view.iteration == 1
    assert screen.iteration.maximum == 1 and screen.losses is not None  # type: ignore[union-attr]
    back = _done(explorer, session, explorer.apply_settings(session, {"num_iter": 2}))
    assert back.view.settings == view.settings
    bad = explorer.apply_settings(session, {"working_size": 7})
    assert bad.status.startswith("⚠️") and bad.view == session.view
    assert "working resolution must be one of 160, 240, 320, 400, 480 px" in bad.status
    assert explorer.set_iteration(session, 0).view.iteration == 0
    shared = explorer.set_colour_scale(session, render.COLOUR_SCALES[1])
    assert shared.view.colour_scale == render.COLOUR_SCALES[1] and shared.colour_bar is not None


def test_bad_checkpoint_is_a_message(explorer: Explorer, tmp_path: Path) -> None:
    session = _session(explorer)
    view = session.view
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"not a checkpoint")
    screen = explorer.use_weights(session, str(bad))
    assert screen.warning and "weights.pth" in screen.status
    assert str(tmp_path) not in screen.status  # the file's name, never the server's path
    assert "weights_only" not in screen.status
    assert screen.view == view == session.view


def test_checkpoint_for_other_features_is_a_message(explorer: Explorer, tmp_path: Path) -> None:
    """The released weights expect 512 channels; the learned features have 64: a clear
    message before any computation, and nothing changes."""
    from gocor_lite import GlobalGOCor, LocalGOCor
    from gocor_lite.gocor.interop import GLOBAL_PREFIX, LOCAL_PREFIX, to_official

    state = to_official(
        GlobalGOCor(initializer="flexible-context-aware", num_channels=512, query_loss=True),
        GLOBAL_PREFIX,
    )
    state.update(to_official(LocalGOCor(), LOCAL_PREFIX))
    path = tmp_path / "glunet_gocor.pth"
    torch.save({"state_dict": state}, path)
    session = _session(explorer)
    view = session.view
    screen = explorer.use_weights(session, str(path))
    assert screen.warning and "512" in screen.status and "official-glunet-gocor" in screen.status
    assert screen.view == view and not screen.compute


# -- uploads: each kind of file the issue names --------------------------------------------------


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return np.kron(small, np.ones((8, 8, 1), np.uint8))[:height, :width]


def _upload(explorer: Explorer, target: Path, source: Path) -> tuple[View, Screen]:
    session = _session(explorer)
    view = session.view
    return view, _done(explorer, session, explorer.upload_pair(session, str(target), str(source)))


def _good(tmp_path: Path) -> Path:
    path = tmp_path / "good.png"
    Image.fromarray(_texture(96, 128, 1)).save(path)
    return path


@pytest.mark.parametrize("kind", ["grey", "rgba", "16-bit", "exif-rotated", "large"])
def test_unusual_uploads_work_with_a_note(explorer: Explorer, tmp_path: Path, kind: str) -> None:
    image = _texture(120, 200)
    path = tmp_path / f"{kind}.png"
    if kind == "grey":
        Image.fromarray(image[:, :, 0]).save(path)
    elif kind == "rgba":
        Image.fromarray(np.dstack([image, np.full(image.shape[:2], 200, np.uint8)])).save(path)
    elif kind == "16-bit":
        Image.fromarray(image[:, :, 0].astype(np.uint16) * 257).save(path)
    elif kind == "exif-rotated":
        path = path.with_suffix(".jpg")
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
        Image.fromarray(image).save(path, exif=exif)
    else:
        path = path.with_suffix(".jpg")
        Image.fromarray(np.tile(_texture(300, 400), (6, 6, 1))).save(path)  # 2400x1800
    _, screen = _upload(explorer, path, _good(tmp_path))
    assert "⚠️" not in screen.status, screen.status
    assert screen.view.pair_id.startswith("upload:")
    assert screen.target is not None and screen.gocor_global is not None
    computed = explorer.pipeline.compute(screen.view.pair_id, screen.view.settings)
    if kind == "exif-rotated":  # portrait after applying the orientation
        assert computed.pair.target.shape[0] > computed.pair.target.shape[1]
    assert "scaled to the working resolution" in screen.status  # always told
    if kind == "large":
        assert "2400×1800 px" in screen.status  # the original size is named too


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds no pixels (a decompression bomb's header)."""

    def chunk(name: bytes, data: bytes) -> bytes:
        body = name + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "kind", ["corrupt", "truncated", "empty", "text", "huge", "bomb", "missing", "none"]
)
def test_bad_uploads_are_messages(explorer: Explorer, tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.png"
    good = _good(tmp_path)
    if kind == "corrupt":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    elif kind == "truncated":
        path = tmp_path / "truncated.jpg"
        Image.fromarray(_texture(200, 300)).save(path)
        path.write_bytes(path.read_bytes()[:600])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "huge":  # above the app's limit, below Pillow's
        path.write_bytes(_png_header_only(10_000, 9_000))
    elif kind == "bomb":  # above Pillow's limit
        path.write_bytes(_png_header_only(30_000, 30_000))
    elif kind == "text":
        path = tmp_path / "notes.txt"
        path.write_text("hello, I am not an image")
    session = _session(explorer)
    view = session.view
    target = None if kind == "none" else str(path)
    screen = explorer.upload_pair(session, target, str(good))
    assert screen.status.startswith("⚠️") and screen.warning, screen.status
    assert screen.target is KEEP and screen.strip is KEEP  # nothing else changes
    assert screen.view == view == session.view and not screen.compute
    assert str(tmp_path) not in screen.status  # never the server's path to the upload
    if kind != "none":
        assert path.name in screen.status
        assert "the target image cannot be used" in screen.status
    # The session keeps working afterwards.
    assert explorer.click(session, 10, 10).target is not None


def test_pair_from_files_needs_both(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="both"):
        pair_from_files(str(_good(tmp_path)), None)


def test_user_pairs_are_kept_by_content_and_keep_their_own_names(pipeline: Pipeline) -> None:
    image = _texture(64, 64)
    first = pipeline.add_pair(ExamplePair("upload", "a.png", image, image))
    second = pipeline.add_pair(ExamplePair("upload", "b.png", image.copy(), image))
    assert Pipeline.content(first) == Pipeline.content(second)  # computed once
    assert first != second and pipeline.pair(second).description == "b.png"
    assert pipeline.pair(first).description == "a.png"


def test_the_same_images_under_other_names_are_named_as_uploaded(
    explorer: Explorer, tmp_path: Path
) -> None:
    """The status names the files of this upload, also when their content was seen before."""
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    for folder, names in (("first", ("t1.png", "s1.png")), ("second", ("t2.png", "s2.png"))):
        Image.fromarray(_texture(96, 128, 1)).save(tmp_path / folder / names[0])
        Image.fromarray(_texture(96, 128, 2)).save(tmp_path / folder / names[1])
    session = _session(explorer)
    one = _done(
        explorer,
        session,
        explorer.upload_pair(
            session, str(tmp_path / "first/t1.png"), str(tmp_path / "first/s1.png")
        ),
    )
    two = _done(
        explorer,
        session,
        explorer.upload_pair(
            session, str(tmp_path / "second/t2.png"), str(tmp_path / "second/s2.png")
        ),
    )
    assert "t1.png" in one.status and "s1.png" in one.status
    assert "t2.png" in two.status and "s2.png" in two.status and "t1.png" not in two.status
    assert Pipeline.content(one.view.pair_id) == Pipeline.content(two.view.pair_id)


def test_pipeline_does_not_import_gradio() -> None:
    """The computing side stays UI-free: importing it with gradio blocked works."""
    code = (
        "import sys; sys.modules['gradio'] = None\n"
        "import explorer.pipeline, explorer.render, explorer.handlers\n"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(root), "PATH": ""},
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("from_file", [False, True])
def test_synthetic_pair_has_ground_truth(
    explorer: Explorer, tmp_path: Path, from_file: bool
) -> None:
    from explorer.pipeline import synthetic_kinds

    kinds = synthetic_kinds()
    assert "homography" in kinds and "random" in kinds
    session = _session(explorer)
    view = session.view
    path = str(_good(tmp_path)) if from_file else None
    screen = _done(explorer, session, explorer.make_synthetic(session, path, 3, "homography"))
    assert "⚠️" not in screen.status, screen.status
    assert screen.view.pair_id.startswith("synthetic:")
    computed = explorer.pipeline.compute(screen.view.pair_id, screen.view.settings)
    assert computed.pair.flow is not None
    assert "No ground truth" not in screen.status  # errors are shown
    now = session.view
    bad = explorer.make_synthetic(session, None, 3, "no-such-kind")
    assert bad.warning and bad.view == now and "kind of warp must be one of" in bad.status
    assert view != now


@pytest.mark.parametrize(
    ("seed", "shown"),
    [
        (1e30, "1e+30"),
        (-1, "-1"),
        (2.5, "2.5"),
        (float("nan"), "nan"),
        ("abc", "'abc'"),
        (None, "None"),
    ],
)
def test_a_seed_outside_its_range_is_a_message(
    explorer: Explorer, seed: object, shown: str
) -> None:
    session = _session(explorer)
    view = session.view
    screen = explorer.make_synthetic(session, None, seed, "homography")
    assert screen.warning and session.view == view and not screen.compute
    assert f"random seed must be a whole number from 0 to 4294967295, not {shown}" in screen.status
    assert "Something went wrong" not in screen.status


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((1, 1), "is 1×1 px: the explorer needs at least 32 px on each side"),
        ((31, 200), "is 200×31 px: the explorer needs at least 32 px on each side"),
        ((40, 5000), "is 5000×40 px, its sides in a ratio of 125.00:1"),
        ((200, 40), "is 40×200 px, its sides in a ratio of 5.00:1"),  # tall: no "wide"
        ((170, 40), "is 40×170 px, its sides in a ratio of 4.25:1"),  # just over 4:1
    ],
)
def test_images_the_maps_cannot_be_made_of_are_refused(
    explorer: Explorer, tmp_path: Path, size: tuple[int, int], message: str
) -> None:
    """Too few feature cells across, or too long a side for the other: refused (in each
    place an image comes in), not blown up into noise."""
    path = tmp_path / "odd.png"
    Image.fromarray(_texture(*size)).save(path)
    for screen in (
        explorer.upload_pair(_session(explorer), str(path), str(_good(tmp_path))),
        explorer.upload_pair(_session(explorer), str(_good(tmp_path)), str(path)),
        explorer.make_synthetic(_session(explorer), str(path), 0, "homography"),
    ):
        assert screen.warning and message in screen.status and "odd.png" in screen.status
        assert not screen.compute


def test_a_small_image_enlarged_much_is_flagged(explorer: Explorer, tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.fromarray(_texture(40, 48)).save(path)
    session = _session(explorer)
    screen = _done(explorer, session, explorer.upload_pair(session, str(path), str(path)))
    assert not screen.warning
    assert "target 48×40 px enlarged 3.4× to the working resolution 160×136 px" in screen.status
    assert "expect blurred maps" in screen.status


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_iter": 1e30}, "GOCor iterations K must be a whole number from 0 to 8, not 1e+30"),
        ({"num_iter": -1}, "GOCor iterations K must be a whole number from 0 to 8, not -1"),
        ({"num_iter": 2.5}, "GOCor iterations K must be a whole number from 0 to 8, not 2.5"),
        ({"search_radius": float("nan")}, "local search radius R must be a whole number"),
        ({"search_radius": "4"}, "local search radius R must be a whole number from 1 to 8"),
        ({"working_size": 1e30}, "working resolution must be one of 160, 240, 320, 400, 480"),
        ({"query_loss": "yes"}, "the query loss is either on or off"),
        ({"features": "nope"}, "features must be one of xfeat, daisy, learned, vgg16"),
    ],
)
def test_settings_outside_their_range_are_messages_in_the_page_words(
    explorer: Explorer, change: dict, message: str
) -> None:
    session = _session(explorer)
    view = session.view
    screen = explorer.apply_settings(session, change)
    assert screen.warning and message in screen.status, screen.status
    assert session.view == view and not screen.compute
    assert isinstance(screen.settings, Settings) and screen.settings == view.settings  # set back


def test_iteration_outside_its_range_is_a_message(explorer: Explorer) -> None:
    session = _session(explorer)
    for value in (1e30, -1, 0.5, float("nan")):
        screen = explorer.set_iteration(session, value)
        assert screen.warning and "iteration shown must be a whole number from 0 to 2" in (
            screen.status
        )
        assert session.view.iteration == 2
        assert screen.iteration.value == 2  # type: ignore[union-attr]  # the slider set back


def test_the_heaviest_settings_are_refused_up_front_with_what_fits(explorer: Explorer) -> None:
    """The query loss at 320 px with 8 iterations on a square pair would take over 20 s of
    processor time (8 iterations on 40x32 cells measured 15.6 s: docs/explorer_cost.csv): it is
    refused before any computation, with the reason and what to choose instead."""
    from explorer.pipeline import TIME_BUDGET, estimate_cost

    session = _session(explorer, "astronaut-warp")
    pipeline = explorer.pipeline
    heavy = Settings(working_size=320, num_iter=8, query_loss=True)
    working = pipeline.working_pair(session.view.pair_id, heavy)
    assert estimate_cost(working.target_grid, working.source_grid, heavy).seconds > TIME_BUDGET
    screen = explorer.apply_settings(session, dataclasses.asdict(heavy))
    assert screen.warning and not screen.compute
    assert "would take about" in screen.status and "more than the 10 s" in screen.status
    assert "choose a working resolution of" in screen.status and "no query loss" in screen.status
    assert pipeline.cached(session.view.pair_id, heavy) is None
    with pytest.raises(InputError, match="more than the 10 s"):
        pipeline.compute(session.view.pair_id, heavy)


def test_the_cost_estimate_grows_with_what_is_computed() -> None:
    from explorer.pipeline import estimate_cost

    grid = (30, 40)
    base = estimate_cost(grid, grid, Settings())
    assert estimate_cost(grid, grid, Settings(num_iter=8)).seconds > base.seconds
    assert estimate_cost(grid, grid, Settings(query_loss=True)).seconds > base.seconds
    assert estimate_cost((40, 50), (40, 50), Settings()).bytes > base.bytes
    # Bytes: (K + 2) volumes of each kind and the matching rules' 4 volumes against the
    # source, 4 bytes an entry (K = 3, R = 4 here).
    cells = 30 * 40
    assert base.bytes == 4 * (5 * cells * (cells + cells + 81) + 4 * cells * cells)


def test_trained_gocor_parameters_are_the_default_and_can_be_switched_off(
    explorer: Explorer,
) -> None:
    from gocor_lite.files.weights import load_trained_gocor

    session = _session(explorer)
    view = session.view
    assert SMALL.gocor_parameters == "trained (this project)"
    trained = explorer.pipeline.compute(view.pair_id, SMALL)
    paper = explorer.pipeline.compute(
        view.pair_id, SMALL.updated({"gocor_parameters": "paper initial values"})
    )
    assert not torch.equal(trained.global_trace.volumes[1], paper.global_trace.volumes[1])
    expected = load_trained_gocor("global", "xfeat").distance.sample()
    torch.testing.assert_close(trained.global_trace.functions.label, expected.label)
    screen = _done(explorer, session, explorer.apply_settings(session, {"num_iter": 2}))
    assert "trained by this project for the xfeat features" in screen.status
    other = _done(
        explorer, session, explorer.apply_settings(session, {"initializer": "context-aware"})
    )
    assert "no trained GOCor parameters" in other.status
    with pytest.raises(InputError, match="GOCor parameters must be one of"):
        SMALL.updated({"gocor_parameters": "mine"})


def test_compatible_checkpoint_is_used_and_can_be_dropped(
    explorer: Explorer, tmp_path: Path
) -> None:
    """A checkpoint with scalar (non-flexible) initialisers fits any features."""
    from gocor_lite import GlobalGOCor, LocalGOCor
    from gocor_lite.gocor.interop import GLOBAL_PREFIX, LOCAL_PREFIX, to_official

    trained = GlobalGOCor()
    with torch.no_grad():
        trained.log_step_length.fill_(-1.0)  # a visible difference from the initial values
    state = to_official(trained, GLOBAL_PREFIX)
    state.update(to_official(LocalGOCor(), LOCAL_PREFIX))
    path = tmp_path / "small.pth"
    torch.save(state, path)
    session = _session(explorer)
    view = session.view
    screen = _done(explorer, session, explorer.use_weights(session, str(path)))
    assert "⚠️" not in screen.status, screen.status
    assert screen.view.settings.weights == str(path)
    assert "checkpoint small.pth" in screen.status and str(tmp_path) not in screen.status
    with_weights = explorer.pipeline.compute(screen.view.pair_id, screen.view.settings)
    initial = explorer.pipeline.compute(view.pair_id, view.settings)
    assert not torch.equal(with_weights.global_trace.volumes[1], initial.global_trace.volumes[1])
    back = _done(explorer, session, explorer.use_weights(session, None))
    assert back.view.settings.weights is None and "initial" in back.status


class _PoolingExtractor(FeatureExtractor):
    """A stand-in for an extractor with a weights file: 8x8 average colours (3 channels)."""

    name = "pooling"
    stride = 8
    channels = 3

    def __init__(self, weights: str | None = None):
        super().__init__()
        if weights is None:
            raise ValueError("this extractor needs a weights file")
        if not Path(weights).is_file():
            raise FileNotFoundError(f"no weights file at {weights}")

    def extract(self, images: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(images, self.stride)


def test_feature_weights_files(
    explorer: Explorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gocor_lite.core import features

    monkeypatch.setitem(features._REGISTRY, "pooling", _PoolingExtractor)
    session = _session(explorer)
    view = session.view
    # Features that need a file, without one: refused in the page's words, set back.
    needs_file = explorer.apply_settings(session, {"features": "pooling"})
    assert needs_file.warning and session.view == view
    assert "the pooling features need a weights file you have" in needs_file.status
    assert "weights=" not in needs_file.status and "<" not in needs_file.status
    assert needs_file.settings == view.settings
    # With the file in place, choosing the features uses it.
    weights = tmp_path / "pooling.pt"
    weights.write_bytes(b"weights")
    screen = _done(
        explorer, session, explorer.apply_settings(session, {"features": "pooling"}, str(weights))
    )
    assert not screen.warning, screen.status
    assert session.view.settings.feature_weights == str(weights)
    assert "Feature weights: pooling.pt" in screen.status
    # Other features drop it; features that take no file say so.
    daisy = _done(explorer, session, explorer.apply_settings(session, {"features": "daisy"}))
    assert daisy.view.settings.feature_weights is None
    refused = explorer.use_feature_weights(session, str(weights))
    assert "the daisy features take no weights file" in refused.status
    assert "choose a weights file" in explorer.use_feature_weights(session, None).status
    _done(
        explorer, session, explorer.apply_settings(session, {"features": "pooling"}, str(weights))
    )
    reset = _done(explorer, session, explorer.reset_weights(session))
    assert reset.view.settings.feature_weights is None and reset.view.settings.weights is None
    assert reset.view.settings.features == "xfeat"  # pooling cannot go on without its file
    missing = explorer.use_feature_weights(session, str(tmp_path / "gone" / "x.pt"))
    assert missing.warning and "x.pt" in missing.status and str(tmp_path) not in missing.status


def test_ambiguity_split_by_hand(pipeline: Pipeline) -> None:
    """The pair's cells split at the median of correlation's peak ratio, and each half's
    accuracy, recomputed here from the volume and the truth with plain loops."""
    computed = pipeline.compute("example:brick-shift", SMALL)
    analysis = computed.analysis
    split = analysis.ambiguity
    assert split is not None and analysis.truth is not None and analysis.known is not None
    volume = computed.correlation.double()  # (h, w, h', w')
    height, width = volume.shape[:2]
    stride = analysis.stride
    ratios, right_correlation, right_gocor = {}, {}, {}
    for y in range(height):
        for x in range(width):
            ratios[(x, y)] = peak_ratio_by_loops(volume[y, x])
            truth = analysis.truth[:, y, x].tolist()
            for found, right in (
                (analysis.matches["global correlation"][:, y, x], right_correlation),
                (analysis.gocor_global_matches[-1][:, y, x], right_gocor),
            ):
                centre = (
                    (float(found[0]) + 0.5) * stride - 0.5,
                    (float(found[1]) + 0.5) * stride - 0.5,
                )
                right[(x, y)] = math.dist(centre, truth) < stride
    counted = [cell for cell in ratios if bool(analysis.known[cell[1], cell[0]])]
    ordered = sorted(ratios[cell] for cell in counted)
    median = ordered[(len(ordered) - 1) // 2]  # the lower middle value, as torch.median
    assert split.threshold == pytest.approx(median, rel=1e-5)
    ambiguous = [cell for cell in counted if ratios[cell] < median]
    distinctive = [cell for cell in counted if ratios[cell] >= median]
    for group, cells in (("ambiguous", ambiguous), ("distinctive", distinctive)):
        assert split.correlation[group].count == len(cells) > 0
        for right, score in (
            (right_correlation, split.correlation[group]),
            (right_gocor, split.gocor[-1][group]),
        ):
            assert score.within_cell == pytest.approx(
                100 * sum(right[c] for c in cells) / len(cells)
            )
    table = rules_render.ambiguity_table(computed, computed.num_iter)
    first = split.correlation["ambiguous"].within_cell
    assert (
        f"| ambiguous (peak ratio below {median:.2f}) | {len(ambiguous)} | {first:.1f}% |" in table
    )


def test_arithmetic_of_one_score_adds_up_to_the_volumes(pipeline: Pipeline) -> None:
    """The arithmetic panel's vectors: the products summed by a plain loop equal the scores
    the correlation and GOCor volumes hold (computed by the library's matrix products), and
    the source cells are the maxima of those volumes (found here by a loop)."""
    from explorer.pipeline import arithmetic

    computed = pipeline.compute("example:brick-shift", SMALL)
    item = arithmetic(computed, (60.0, 50.0), SMALL.num_iter)
    x, y = item.cell
    assert item.sources, "at least correlation's best match"
    for title, source in item.sources.items():
        correlation = sum(float(a) * float(b) for a, b in zip(item.feature, source, strict=True))
        gocor = sum(float(a) * float(b) for a, b in zip(item.gocor_filter, source, strict=True))
        column, row = item.source_cells[title]
        held = (
            float(computed.correlation[y, x, row, column]),
            float(computed.global_trace.volumes[SMALL.num_iter][y, x, row, column]),
        )
        assert (correlation, gocor) == pytest.approx(held, abs=1e-5)
    scores = computed.correlation[y, x]
    height, width = scores.shape
    best = max(((j, i) for j in range(height) for i in range(width)), key=lambda c: scores[c])
    assert any(
        f"({best[1]}, {best[0]})" in title and "correlation's best" in title
        for title in item.sources
    )
    picture = render.arithmetic_picture(item)
    assert picture.ndim == 3 and picture.shape[2] == 3 and picture.std() > 0
