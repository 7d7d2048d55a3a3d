# SPDX-License-Identifier: MIT
"""The explorer without Gradio: settings in, volumes and probes out; every bad input a message."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import render
from explorer.handlers import Explorer, View
from explorer.pipeline import InputError, Pipeline, Settings, pair_from_files
from gocor_lite.data.pairs import ExamplePair
from gocor_lite.features import FeatureExtractor

SMALL = Settings(working_size=160, num_iter=2, search_radius=3)


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
    computed = pipeline.compute(pipeline.example_pair("chelsea-shift"), SMALL)
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
    computed = pipeline.compute(pipeline.example_pair("chelsea-shift"), SMALL)
    probe = pipeline.probe(computed, (40.0, 40.0), iteration=2)
    scale = render.display_scale(computed.pair.target)
    assert scale == 4  # 160 px shown at 640
    target = render.target_picture(computed, probe)
    assert target.shape == (computed.pair.target.shape[0] * 4, 640, 3)
    for colour_scale in render.COLOUR_SCALES:
        picture = render.panel(computed, probe, probe.gocor_global, colour_scale)
        assert picture.dtype == np.uint8 and picture.shape[1] == 640
        assert render.strip(computed, probe, colour_scale).ndim == 3


def test_click_marks_the_cell_and_answers_outside_clicks(explorer: Explorer) -> None:
    view = View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (10.0, 10.0), 2)
    screen = explorer.click(view, 100, 60)
    assert screen.view.pixel == (100.0, 60.0)
    assert screen.target is not None and screen.gocor_local is not None
    assert "cell (12, 7)" in screen.status
    # The displayed picture is enlarged 4x: a click there is divided by 4.
    assert explorer.click_displayed(view, 400, 240).view.pixel == (100.0, 60.0)
    for x, y in ((-1, 5), (5, 10_000), (None, 3), (float("nan"), 1)):
        outside = explorer.click(view, x, y)  # type: ignore[arg-type]
        assert outside.view == view and outside.target is None
        assert "⚠️" in outside.status


def test_a_click_without_a_session_starts_from_the_first_pair(explorer: Explorer) -> None:
    screen = explorer.click(None, 20, 20)
    assert screen.view.pair_id.startswith("example:") and screen.target is not None


def test_settings_and_iteration_changes(explorer: Explorer) -> None:
    view = View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (50.0, 50.0), 2)
    screen = explorer.apply_settings(view, {"num_iter": 1.0})
    assert screen.view.settings.num_iter == 1 and screen.view.iteration == 1
    assert screen.num_iter == 1 and screen.losses is not None
    bad = explorer.apply_settings(view, {"working_size": 7})
    assert "⚠️" in bad.status and bad.view == view
    assert explorer.set_iteration(view, 0).view.iteration == 0
    shared = explorer.set_colour_scale(view, render.COLOUR_SCALES[1])
    assert shared.view.colour_scale == render.COLOUR_SCALES[1] and shared.colour_bar is not None


def test_bad_checkpoint_is_a_message(explorer: Explorer, tmp_path: Path) -> None:
    view = View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (50.0, 50.0), 2)
    bad = tmp_path / "weights.pth"
    bad.write_bytes(b"not a checkpoint")
    screen = explorer.use_weights(view, str(bad))
    assert "⚠️" in screen.status and "weights.pth" in screen.status
    assert screen.view == view


def test_checkpoint_for_other_features_is_a_message(explorer: Explorer, tmp_path: Path) -> None:
    """The released weights expect 512 channels; DAISY has 104: a clear message."""
    from gocor_lite import GlobalGOCor, LocalGOCor
    from gocor_lite.gocor.interop import GLOBAL_PREFIX, LOCAL_PREFIX, to_official

    state = to_official(
        GlobalGOCor(initializer="flexible-context-aware", num_channels=512, query_loss=True),
        GLOBAL_PREFIX,
    )
    state.update(to_official(LocalGOCor(), LOCAL_PREFIX))
    path = tmp_path / "glunet_gocor.pth"
    torch.save({"state_dict": state}, path)
    view = View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (50.0, 50.0), 2)
    screen = explorer.use_weights(view, str(path))
    assert "⚠️" in screen.status and "512" in screen.status
    assert screen.view == view


# -- uploads: each kind of file the issue names --------------------------------------------------


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return np.kron(small, np.ones((8, 8, 1), np.uint8))[:height, :width]


def _upload(explorer: Explorer, target: Path, source: Path):
    view = View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (50.0, 50.0), 2)
    return view, explorer.upload_pair(view, str(target), str(source))


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
    view, screen = (
        _upload(explorer, path, good)
        if kind != "none"
        else (None, explorer.upload_pair(None, None, str(good)))
    )
    assert screen.status.startswith("⚠️"), screen.status
    assert screen.target is None  # nothing else changes
    if view is not None:
        assert screen.view == view
    if kind not in ("none", "missing"):
        assert path.name in screen.status
    # The session keeps working afterwards.
    assert explorer.click(screen.view, 10, 10).target is not None


def test_pair_from_files_needs_both(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="both"):
        pair_from_files(str(_good(tmp_path)), None)


def test_user_pairs_are_kept_by_content(pipeline: Pipeline) -> None:
    image = _texture(64, 64)
    first = pipeline.add_pair(ExamplePair("upload", "a", image, image))
    assert pipeline.add_pair(ExamplePair("upload", "b", image.copy(), image)) == first


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
    view = View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (50.0, 50.0), 2)
    path = str(_good(tmp_path)) if from_file else None
    screen = explorer.make_synthetic(view, path, 3, "homography")
    assert "⚠️" not in screen.status, screen.status
    assert screen.view.pair_id.startswith("synthetic:")
    computed = explorer.pipeline.compute(screen.view.pair_id, screen.view.settings)
    assert computed.pair.flow is not None
    assert "No ground truth" not in screen.status  # errors are shown
    bad = explorer.make_synthetic(view, None, 3, "no-such-kind")
    assert "⚠️" in bad.status and bad.view == view


def test_trained_gocor_parameters_are_the_default_and_can_be_switched_off(
    explorer: Explorer,
) -> None:
    from gocor_lite.weights import load_trained_gocor

    view = View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (50.0, 50.0), 2)
    assert SMALL.gocor_parameters == "trained (this project)"
    trained = explorer.pipeline.compute(view.pair_id, SMALL)
    paper = explorer.pipeline.compute(
        view.pair_id, SMALL.updated({"gocor_parameters": "paper initial values"})
    )
    assert not torch.equal(trained.global_trace.volumes[1], paper.global_trace.volumes[1])
    expected = load_trained_gocor("global", "learned").distance.sample()
    torch.testing.assert_close(trained.global_trace.functions.label, expected.label)
    screen = explorer.apply_settings(view, {"num_iter": 2})
    assert "trained by this project for the learned features" in screen.status
    other = explorer.apply_settings(view, {"initializer": "context-aware"})
    assert "no trained GOCor parameters" in other.status
    with pytest.raises(InputError, match="gocor_parameters must be one of"):
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
    view = View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (50.0, 50.0), 2)
    screen = explorer.use_weights(view, str(path))
    assert "⚠️" not in screen.status, screen.status
    assert screen.view.settings.weights == str(path) and "checkpoint file" in screen.status
    with_weights = explorer.pipeline.compute(screen.view.pair_id, screen.view.settings)
    initial = explorer.pipeline.compute(view.pair_id, view.settings)
    assert not torch.equal(with_weights.global_trace.volumes[1], initial.global_trace.volumes[1])
    back = explorer.use_weights(screen.view, None)
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
    from gocor_lite import features

    monkeypatch.setitem(features._REGISTRY, "pooling", _PoolingExtractor)
    view = View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (50.0, 50.0), 2)
    needs_file = explorer.apply_settings(view, {"features": "pooling"})
    assert "⚠️" in needs_file.status and "needs a weights file" in needs_file.status
    weights = tmp_path / "pooling.pt"
    weights.write_bytes(b"weights")
    pooling_view = dataclasses.replace(view, settings=SMALL.updated({"features": "pooling"}))
    screen = explorer.use_feature_weights(pooling_view, str(weights))
    assert "⚠️" not in screen.status, screen.status
    assert "Feature weights: pooling.pt" in screen.status
    daisy_view = dataclasses.replace(view, settings=SMALL.updated({"features": "daisy"}))
    assert "take no weights file" in explorer.use_feature_weights(daisy_view, str(weights)).status
    assert "choose a weights file" in explorer.use_feature_weights(view, None).status
    reset = explorer.reset_weights(pooling_view)
    assert reset.view.settings.feature_weights is None and reset.view.settings.weights is None


# -- the flow view -------------------------------------------------------------------------------


def test_flow_view_error_is_the_average_endpoint_error(pipeline: Pipeline) -> None:
    """On a synthetic warp with a known flow, the reported error is the average distance between
    the estimated and the true flow (computed here in numpy, and by gocor_lite.warp)."""
    from explorer.pipeline import FlowChoice
    from gocor_lite.evaluation.metrics import endpoint_error

    pair_id = pipeline.example_pair("astronaut-warp")
    flow = pipeline.compute_flow(pair_id, SMALL, FlowChoice())
    assert pipeline.compute_flow(pair_id, SMALL, FlowChoice()) is flow  # cached
    true = flow.pair.flow
    assert true is not None
    estimate = flow.result.flow[0].numpy()  # (2, H, W)
    assert estimate.shape == true.shape and true.shape[1:] == flow.pair.target.shape[:2]
    distance = np.sqrt(((estimate - true) ** 2).sum(axis=0))
    known = np.isfinite(distance)
    assert known.mean() > 0.5
    assert flow.mean_error == pytest.approx(float(distance[known].mean()), rel=1e-4)
    library = endpoint_error(flow.result.flow, torch.from_numpy(true)[None])[0].numpy()
    assert flow.mean_error == pytest.approx(float(np.nanmean(library)), rel=1e-4)
    assert len(flow.pictures) == len(flow.result.levels) == 4
    assert all(item.error is not None for item in flow.pictures)


def test_flow_view_finds_a_shift(pipeline: Pipeline) -> None:
    """A crop shifted by a known offset: the flow is that offset almost everywhere."""
    from explorer.pipeline import FlowChoice

    flow = pipeline.compute_flow(pipeline.example_pair("chelsea-shift"), SMALL, FlowChoice())
    true = flow.pair.flow
    assert true is not None and flow.mean_error is not None
    median = np.nanmedian(true.reshape(2, -1), axis=1)  # the shift, in working pixels
    estimate = np.median(flow.result.flow[0].numpy().reshape(2, -1), axis=1)
    assert np.abs(estimate - median).max() < 1.0
    distance = np.sqrt(((flow.result.flow[0].numpy() - true) ** 2).sum(axis=0))
    # About a third of the target has its match outside the source crop (NaN there): nothing to
    # find, counted as a miss here.
    assert np.isnan(distance).mean() > 0.25
    assert np.mean(distance < 3.0) > 0.45


def test_flow_view_follows_the_gocor_parameters_setting(pipeline: Pipeline) -> None:
    from explorer.pipeline import GOCOR_PARAMETERS, FlowChoice

    pair_id = pipeline.example_pair("gravel-warp")
    initial = dataclasses.replace(SMALL, gocor_parameters=GOCOR_PARAMETERS[1])
    for choice in (FlowChoice("gocor"), FlowChoice("gocor", "decoder")):
        with_trained = pipeline.compute_flow(pair_id, SMALL, choice)
        with_initial = pipeline.compute_flow(pair_id, initial, choice)
        assert not torch.equal(with_trained.result.flow, with_initial.result.flow)
        mismatch = [note for note in with_trained.notes if "trained on GOCor" in note]
        assert len(mismatch) == (choice.estimator == "decoder")
        assert not any("trained on GOCor" in note for note in with_initial.notes)
    # Without GOCor the setting changes nothing.
    plain = FlowChoice("correlation")
    torch.testing.assert_close(
        pipeline.compute_flow(pair_id, SMALL, plain).result.flow,
        pipeline.compute_flow(pair_id, initial, plain).result.flow,
    )


def test_flow_view_variants_estimators_and_notes(pipeline: Pipeline, explorer: Explorer) -> None:
    from explorer.pipeline import FLOW_ESTIMATORS, FLOW_VARIANTS, FlowChoice

    pair_id = pipeline.example_pair("gravel-warp")
    plain = pipeline.compute_flow(pair_id, SMALL, FlowChoice("correlation"))
    gocor = pipeline.compute_flow(pair_id, SMALL, FlowChoice("gocor"))
    assert [level.config.gocor for level in gocor.result.levels] == [True] * 4
    assert not torch.equal(plain.result.flow, gocor.result.flow)
    with pytest.raises(InputError, match="GOCor variant"):
        FlowChoice("nope")
    view = explorer.initial_view()
    for variant in FLOW_VARIANTS:
        screen = explorer.choose_flow(view, variant, next(iter(FLOW_ESTIMATORS)))
        assert screen.flow is not None and screen.flow_levels is not None
        assert screen.view.flow.variant == FLOW_VARIANTS[variant]
        assert variant in screen.flow_status and "Average endpoint error" in screen.flow_status
    screen = explorer.choose_flow(view, "nope", "learned decoders")
    assert screen.flow_status.startswith("⚠️") and screen.flow is None


def test_flow_view_without_decoder_weights_is_a_note(
    pipeline: Pipeline, explorer: Explorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gocor_lite.flow import CoarseToFineFlow

    missing = Path("/nonexistent/flow_decoders.pt")
    original = CoarseToFineFlow.load_decoders
    monkeypatch.setattr(CoarseToFineFlow, "load_decoders", lambda model: original(model, missing))
    other = dataclasses.replace(SMALL, num_iter=1)  # not cached yet
    view = dataclasses.replace(explorer.initial_view(), settings=other)
    screen = explorer.choose_flow(view, "global GOCor", "learned decoders")
    assert screen.flow_status.startswith("⚠️") and "no learned decoders" in screen.flow_status
    assert "training-free" in screen.flow_status and screen.flow is None


def test_flow_view_pictures(explorer: Explorer) -> None:
    view = explorer.initial_view()
    screen = explorer.show_flow(view)
    assert screen.flow is not None and screen.warped is not None and screen.flow_legend is not None
    assert screen.flow.shape[1] >= render.MIN_DISPLAY_SIDE  # enlarged like the other pictures
    assert screen.flow_error is not None  # the first bundled pair has a ground truth
    levels = screen.flow_levels
    assert levels is not None and levels.shape[1] > 4 * render.TILE_WIDTH
    # The legend's right edge is red (+x), its bottom orange-yellow (+y): the wheel's convention.
    legend = render.flow_legend()
    middle = legend.shape[0] // 2
    assert legend[middle, middle].tolist() == [255, 255, 255]
