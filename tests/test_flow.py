# SPDX-License-Identifier: MIT
"""The coarse-to-fine flow pipeline: conventions, resolutions, warping, GOCor on/off, training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gocor_lite import global_correlation, local_correlation
from gocor_lite.cli.flow import main
from gocor_lite.data.examples import load_example
from gocor_lite.data.split import load_image, synthetic_pairs
from gocor_lite.flow.config import FlowConfig, LevelConfig
from gocor_lite.flow.pipeline import CoarseToFineFlow, estimate_flow
from gocor_lite.images import to_uint8
from gocor_lite.matching import argmax_position, soft_argmax_position
from gocor_lite.training.decoders import DecoderTraining, save_decoders, train_decoder
from gocor_lite.warp import Frame, dense_flow, warp

# A small pyramid for fast tests: global on 64x64, local on the original images.
SMALL = FlowConfig(
    levels=(
        LevelConfig(image_scale=1.0, working=True),
        LevelConfig(image_scale=1.0, working=False, search_radius=2),
    ),
    working_size=(64, 64),
)


@pytest.fixture(scope="module")
def texture() -> torch.Tensor:
    """A natural image, ``(1, 3, 160, 200)`` float64."""
    return load_image("astronaut", (160, 200)).to(torch.float64)


def pixel_grid(height: int, width: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    return torch.stack([xs, ys])[None]  # (1, 2, H, W)


def homography_flow(matrix: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Oracle: the flow ``T(p) - p`` of a homography on pixel coordinates, ``(1, 2, H, W)``."""
    grid = pixel_grid(*size)[0]  # (2, H, W)
    points = torch.cat([grid, torch.ones_like(grid[:1])])  # (3, H, W)
    mapped = torch.einsum("ij,jhw->ihw", matrix.to(torch.float64), points)
    return (mapped[:2] / mapped[2:] - grid)[None]


def inside(flow: torch.Tensor, source_size: tuple[int, int], margin: float = 0) -> torch.Tensor:
    """Target pixels whose match lies inside the source (``margin`` pixels from both images'
    borders, where dense descriptors see padding), ``(B, H, W)``."""
    pixels = pixel_grid(*flow.shape[2:])
    ends = pixels + flow
    height, width = source_size
    x, y = ends[:, 0], ends[:, 1]
    inner = (x >= margin) & (x <= width - 1 - margin) & (y >= margin) & (y <= height - 1 - margin)
    target_height, target_width = flow.shape[2:]
    px, py = pixels[:, 0], pixels[:, 1]
    return (
        inner
        & (px >= margin)
        & (px <= target_width - 1 - margin)
        & (py >= margin)
        & (py <= target_height - 1 - margin)
    )


# -- conventions ----------------------------------------------------------------------------------


def test_translation_pins_the_flow_direction(texture):
    # Target = crop at (row 20, col 30); source = crop at (row 14, col 39): target pixel p shows
    # the image point at source pixel p + (-9, +6).
    target = texture[:, :, 20:140, 30:190]
    source = texture[:, :, 14:134, 39:199]
    result = CoarseToFineFlow(FlowConfig()).eval()(target.float(), source.float())
    true = torch.tensor([-9.0, 6.0]).view(1, 2, 1, 1)
    visible = inside(true.expand_as(result.flow), (120, 160), margin=16)
    error = result.flow - true  # (1, 2, H, W)
    length = error.norm(dim=1)[visible]
    # The finest cells are 8 px wide here: errors of a fraction of a cell, and no bias (a sign
    # or half-pixel slip in a convention would show as a mean offset).
    assert float(length.median()) < 2.5
    assert float((length < 4).float().mean()) > 0.85
    inliers = visible & (error.norm(dim=1) < 4)
    for axis in (0, 1):
        assert abs(float(error[:, axis][inliers].mean())) < 0.3


def test_homography_with_known_flow(texture):
    matrix = torch.tensor([[0.95, 0.06, 6.0], [-0.04, 1.02, -4.0], [1e-4, -2e-4, 1.0]])
    true = homography_flow(matrix, (160, 200))  # (1, 2, H, W), float64
    source = texture
    target = warp(source, true)
    result = CoarseToFineFlow(FlowConfig()).eval()(target.float(), source.float())
    error = (result.flow.double() - true).norm(dim=1)[inside(true, (160, 200), margin=16)]
    assert float(error.median()) < 2.5
    assert float((error < 4).float().mean()) > 0.85


def test_each_level_returns_its_flow_as_data(texture):
    result = CoarseToFineFlow(FlowConfig()).eval()(texture[:, :, :150].float(), texture.float())
    assert len(result.levels) == 4
    for level in result.levels:
        assert level.flow.shape == (1, 2, 150, 200)
        assert level.cell_flow.shape[2:] == level.target_frame.grid
    assert result.levels[0].volume.shape == (1, 16, 16, 16, 16)  # the working size's grid
    assert result.levels[2].volume.shape == (1, 18, 25, 5, 5)  # original size, stride 8, R=2
    assert result.levels[3].volume.shape == (1, 37, 50, 5, 5)  # original size x 2
    assert torch.equal(result.flow, result.levels[-1].flow)


# -- adaptive resolution --------------------------------------------------------------------------


def test_frames_map_cells_to_original_pixels_on_non_square_images():
    frame = Frame.of((90, 150), (64, 64), stride=8)  # a 150x90 image resized to 64x64
    assert frame.grid == (8, 8)
    assert frame.stride == pytest.approx((150 / 64 * 8, 90 / 64 * 8))
    centres = frame.centres(like=torch.zeros(1, dtype=torch.float64))
    # Cell (0, 0) covers the first 8 working pixels, i.e. original [-0.5, 18.25) in x.
    assert centres[0, :, 0, 0].tolist() == pytest.approx([150 / 16 - 0.5, 90 / 16 - 0.5])
    torch.testing.assert_close(frame.to_cells(frame.to_pixels(centres)), centres)


def test_dense_flow_interpolates_an_affine_flow_exactly_between_cell_centres():
    frame = Frame.of((45, 77), (45, 77), stride=8)  # odd sizes, not multiples of the stride
    centres = frame.centres(like=torch.zeros(1, dtype=torch.float64))
    cell_flow = torch.stack(
        [0.1 * centres[:, 0] - 2.0, 0.05 * centres[:, 1] + 0.3 * centres[:, 0]], 1
    )
    flow = dense_flow(cell_flow, frame, (45, 77))
    pixels = pixel_grid(45, 77)
    expected = torch.stack([0.1 * pixels[:, 0] - 2.0, 0.05 * pixels[:, 1] + 0.3 * pixels[:, 0]], 1)
    low, high = centres[0, :, 0, 0], centres[0, :, -1, -1]
    hull = (
        (pixels[:, 0] >= low[0])
        & (pixels[:, 0] <= high[0])
        & (pixels[:, 1] >= low[1])
        & (pixels[:, 1] <= high[1])
    )
    torch.testing.assert_close(flow.permute(0, 2, 3, 1)[hull], expected.permute(0, 2, 3, 1)[hull])


def test_global_level_scales_the_flow_back_to_non_square_images_of_different_sizes(texture):
    # The source is the target resized to another size and aspect: the true flow is the
    # resizing map p' = (p + 0.5) * (W' / W) - 0.5 per axis.
    target = texture[:, :, :96, :]  # 200x96
    source = torch.nn.functional.interpolate(
        target, size=(150, 120), mode="bilinear", align_corners=False, antialias=True
    )
    config = dataclasses.replace(SMALL, levels=SMALL.levels[:1], working_size=(96, 96))
    result = CoarseToFineFlow(config).eval()(target.float(), source.float())
    pixels = pixel_grid(96, 200)
    scale = torch.tensor([120 / 200, 150 / 96], dtype=torch.float64).view(1, 2, 1, 1)
    true = (pixels + 0.5) * scale - 0.5 - pixels
    error = (result.flow.double() - true).norm(dim=1)
    assert float(error.median()) < 1.5  # cells of the global level are 25x12 px on the target


def test_all_levels_follow_a_source_of_another_size(texture):
    # Source = target enlarged by 15% (non-square, both): every level, local ones included,
    # must place its cells on each image's own grid.
    target = texture[:, :, :96, :]  # 200x96
    source = torch.nn.functional.interpolate(
        target, size=(110, 230), mode="bilinear", align_corners=False, antialias=True
    )
    result = CoarseToFineFlow(FlowConfig()).eval()(target.float(), source.float())
    pixels = pixel_grid(96, 200)
    scale = torch.tensor([230 / 200, 110 / 96], dtype=torch.float64).view(1, 2, 1, 1)
    true = (pixels + 0.5) * scale - 0.5 - pixels
    for level in result.levels:
        assert float((level.flow.double() - true).norm(dim=1).median()) < 2.0


def test_any_sizes_odd_and_different(generator):
    target = torch.rand(1, 3, 77, 101, generator=generator)
    source = torch.rand(1, 3, 64, 90, generator=generator)
    for variant in ("correlation", "gocor"):
        for estimator in ("argmax", "soft-argmax", "decoder"):
            config = dataclasses.replace(SMALL, estimator=estimator).with_variant(variant)
            result = CoarseToFineFlow(config).eval()(target, source)
            assert result.flow.shape == (1, 2, 77, 101)
            assert bool(torch.isfinite(result.flow).all())
            assert result.warped_source().shape == (1, 3, 77, 101)


# -- warping --------------------------------------------------------------------------------------


def test_warping_by_the_true_flow_reproduces_the_target_where_visible():
    pair = load_example("chelsea-shift")  # two crops of one image: an exact integer shift
    assert pair.flow is not None
    known = torch.from_numpy(pair.flow)[None].double()  # NaN where the match is outside
    flow = known.nanmean(dim=(2, 3), keepdim=True).expand_as(known)  # the shift, everywhere
    source = torch.from_numpy(pair.source).permute(2, 0, 1)[None].double()
    target = torch.from_numpy(pair.target).permute(2, 0, 1)[None].double()
    visible = inside(flow, pair.source.shape[:2])
    assert torch.equal(visible, torch.isfinite(known[:, 0]))
    warped = warp(source, flow)
    torch.testing.assert_close(
        warped.permute(0, 2, 3, 1)[visible], target.permute(0, 2, 3, 1)[visible]
    )
    beyond = ~inside(flow, pair.source.shape[:2], margin=-1)  # more than a pixel outside
    assert bool((warped.permute(0, 2, 3, 1)[beyond] == 0).all())


def test_warping_the_stereo_pair_by_its_disparity_aligns_it():
    pair = load_example("stereo-motorcycle")
    assert pair.flow is not None
    flow = torch.from_numpy(pair.flow)[None].double()
    known = torch.isfinite(flow[:, 0])
    source = torch.from_numpy(pair.source).permute(2, 0, 1)[None].double() / 255
    target = torch.from_numpy(pair.target).permute(2, 0, 1)[None].double() / 255
    warped = warp(source, flow.nan_to_num(0.0))
    aligned = (warped - target).abs().mean(1)[known].mean()
    unaligned = (source - target).abs().mean(1)[known].mean()
    assert float(aligned) < 0.5 * float(unaligned)


# -- GOCor on and off -----------------------------------------------------------------------------


def test_without_gocor_the_pipeline_is_the_feature_correlation_pipeline(texture):
    target, source = texture[:, :, :96, :128], texture[:, :, 8:104, 6:134]
    model = CoarseToFineFlow(SMALL).to(torch.float64)
    # GOCor modules exist but must not be called.
    model.gocor = torch.nn.ModuleList([_Refuse(), _Refuse()])
    inputs = model.extract(target, source)
    result = model(target, source)
    from gocor_lite.features import normalize_features

    # Level 0: the plain global correlation of the normalised features, argmax.
    t0, s0 = normalize_features(inputs[0].target, inputs[0].source, "centered-l2")
    assert torch.equal(result.levels[0].volume, global_correlation(t0, s0))
    # Level 1: the plain local correlation (a sum over channels) with the warped source.
    from gocor_lite.warp import flow_at, sample

    centres = inputs[1].target_frame.centres(like=t0)
    cells = inputs[1].source_frame.to_cells(centres + flow_at(result.levels[0].flow, centres))
    t1, s1 = normalize_features(inputs[1].target, sample(inputs[1].source, cells), "centered-l2")
    assert torch.equal(result.levels[1].volume, local_correlation(t1, s1, 2, reduction="sum"))


class _Refuse(torch.nn.Module):
    def forward(self, *args: object) -> torch.Tensor:
        raise AssertionError("GOCor was called with GOCor switched off")


def test_gocor_before_its_first_step_gives_the_feature_correlation_flow(texture):
    # Iteration 0 of GOCor is the feature correlation scaled per target cell, which moves no
    # argmax: the whole pipeline's flow is unchanged.
    target, source = texture[:, :, :96, :128], texture[:, :, 8:104, 6:134]
    plain = CoarseToFineFlow(SMALL).to(torch.float64)(target, source)
    config = dataclasses.replace(SMALL, gocor_iterations=0).with_variant("gocor")
    gocor = CoarseToFineFlow(config).to(torch.float64)(target, source)
    torch.testing.assert_close(gocor.flow, plain.flow)


def test_variants_switch_gocor_per_level():
    config = FlowConfig().with_variant("local-gocor")
    assert [level.gocor for level in config.levels] == [False, True, True, True]
    assert config.variant == "local-gocor"
    assert FlowConfig().with_variant("global-gocor").variant == "global-gocor"
    with pytest.raises(ValueError, match="level 0 must be global"):
        FlowConfig(levels=(LevelConfig(search_radius=2),))
    with pytest.raises(ValueError, match="only level 0"):
        FlowConfig(levels=(LevelConfig(), LevelConfig()))


# -- estimators -----------------------------------------------------------------------------------


def test_argmax_refines_a_parabolic_peak_below_one_cell():
    ys, xs = torch.meshgrid(torch.arange(7.0), torch.arange(9.0), indexing="ij")
    volume = -((xs - 4.3) ** 2) - 2 * (ys - 2.8) ** 2  # a paraboloid peaking at (4.3, 2.8)
    position = argmax_position(volume.view(1, 1, 1, 7, 9).double())
    torch.testing.assert_close(position.flatten(), torch.tensor([4.3, 2.8], dtype=torch.float64))
    integer = argmax_position(volume.view(1, 1, 1, 7, 9), subcell=False)
    assert integer.flatten().tolist() == [4.0, 3.0]


def test_soft_argmax_ignores_a_distant_second_mode():
    volume = torch.zeros(1, 1, 1, 9, 9)
    volume[..., 2, 2] = 1.0
    volume[..., 7, 7] = 0.99  # repeated structure: a second, slightly weaker peak
    position = soft_argmax_position(volume, window=2, temperature=0.05)
    torch.testing.assert_close(position.flatten(), torch.tensor([2.0, 2.0]), atol=1e-6, rtol=0)


# -- learned decoders -----------------------------------------------------------------------------


def test_a_small_decoder_trains_and_its_loss_goes_down():
    torch.manual_seed(0)
    pairs = synthetic_pairs(["astronaut"], 2, (64, 96), seed=0)
    config = dataclasses.replace(SMALL, estimator="decoder")
    model = CoarseToFineFlow(config)
    settings = DecoderTraining(steps=12, batch_size=2, learning_rate=3e-3)
    losses, _ = train_decoder(model, pairs, settings)
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < losses[0]


def test_decoder_weights_round_trip(tmp_path):
    model = CoarseToFineFlow(dataclasses.replace(SMALL, estimator="decoder"))
    with torch.no_grad():
        for parameter in model.decoders.parameters():
            parameter.add_(0.01)
    path = tmp_path / "decoders.pt"
    save_decoders([model], path, note="test")
    fresh = CoarseToFineFlow(dataclasses.replace(SMALL, estimator="decoder"))
    fresh.load_decoders(path)
    for a, b in zip(model.decoders.parameters(), fresh.decoders.parameters(), strict=True):
        assert torch.equal(a, b)
    other = CoarseToFineFlow(dataclasses.replace(SMALL, estimator="decoder").with_variant("gocor"))
    with pytest.raises(ValueError, match="holds no 'learned/gocor'"):
        other.load_decoders(path)
    with pytest.raises(FileNotFoundError, match=r"python -m gocor_lite\.train"):
        fresh.load_decoders(tmp_path / "missing.pt")


# -- outputs for people ---------------------------------------------------------------------------


def test_estimate_flow_on_uint8_images_and_the_command(tmp_path, texture):
    from PIL import Image

    target = to_uint8(texture[:, :, :70, :90].float())
    source = to_uint8(texture[:, :, 5:80, 3:98].float())
    result = estimate_flow(target, source, SMALL)
    flow, warped = result.to_numpy()
    assert flow.shape == (2, 70, 90) and warped.shape == (70, 90, 3)
    Image.fromarray(target).save(tmp_path / "t.png")
    Image.fromarray(source).save(tmp_path / "s.png")
    out = tmp_path / "flow.png"
    assert main([str(tmp_path / "t.png"), str(tmp_path / "s.png"), "--out", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 1000


@pytest.mark.parametrize("variant", ["correlation", "global-gocor", "local-gocor", "gocor"])
def test_shipped_decoders_fit_the_default_pipeline(variant):
    model = CoarseToFineFlow(FlowConfig(estimator="decoder").with_variant(variant))
    model.load_decoders()  # assets/weights/flow_decoders.pt, weights_only
    last = model.decoders[0].layers[-1]
    assert float(last.weight.detach().abs().sum()) > 0  # trained, not the zero initialisation


def test_the_pipeline_follows_the_device_of_its_inputs(device, generator):
    target = torch.rand(1, 3, 48, 72, generator=generator).to(device)
    source = torch.rand(1, 3, 56, 64, generator=generator).to(device)
    config = dataclasses.replace(SMALL, estimator="decoder").with_variant("gocor")
    model = CoarseToFineFlow(config).to(device)
    result = model(target, source)
    assert result.flow.device == target.device
    assert result.warped_source().device == target.device
    if device.type != "cpu":
        on_cpu = CoarseToFineFlow(config)(target.cpu(), source.cpu())
        torch.testing.assert_close(result.flow.cpu(), on_cpu.flow, atol=1e-3, rtol=0)


def test_training_resumes_exactly_from_a_checkpoint():
    pairs = synthetic_pairs(["coins"], 3, (48, 64), seed=1)
    config = dataclasses.replace(SMALL, estimator="decoder", working_size=(48, 48))
    settings = DecoderTraining(steps=4, batch_size=2)
    torch.manual_seed(0)
    once = CoarseToFineFlow(config)
    torch.manual_seed(0)
    twice = CoarseToFineFlow(config)
    train_decoder(once, pairs, settings)
    _, optimizer_state = train_decoder(twice, pairs, dataclasses.replace(settings, steps=2))
    train_decoder(twice, pairs, settings, start_step=2, optimizer_state=optimizer_state)
    for a, b in zip(once.decoders.parameters(), twice.decoders.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_the_command_explains_a_missing_image(tmp_path, capsys):
    assert main([str(tmp_path / "missing.png"), str(tmp_path / "other.png")]) == 1
    assert "no image file" in capsys.readouterr().err


def test_unknown_truth_colour_is_no_error_colour():
    from matplotlib import colormaps

    from gocor_lite.pictures.flow import ERROR_COLORMAP, UNKNOWN_COLOUR

    assert ERROR_COLORMAP == "magma"
    every_error = np.round(colormaps["magma"](np.linspace(0, 1, 1024))[:, :3] * 255)
    # At least 150 grey levels (L1 over RGB) away from the nearest error colour.
    assert np.abs(every_error - np.asarray(UNKNOWN_COLOUR)).sum(axis=1).min() > 150


def test_level_pictures_for_an_app(texture):
    from gocor_lite.pictures.flow import UNKNOWN_COLOUR, level_pictures

    target, source = texture[:, :, :64, :80].float(), texture[:, :, 4:68, 2:82].float()
    result = CoarseToFineFlow(SMALL)(target, source)
    true = np.zeros((2, 64, 80), np.float32)
    true[0], true[1] = 2.0, 4.0
    true[:, :5] = np.nan
    pictures = level_pictures(result, true)
    assert [p.title[:7] for p in pictures] == ["level 0", "level 1"]
    for picture in pictures:
        for image in (picture.flow, picture.warped_source, picture.error):
            assert image is not None and image.shape == (64, 80, 3) and image.dtype == np.uint8
        assert picture.error is not None
        # Unknown truth has its own colour, and no error value is drawn in it (not black: black
        # is a perfect 0 px error).
        assert (picture.error[:5] == UNKNOWN_COLOUR).all()
        assert not (picture.error[5:] == UNKNOWN_COLOUR).all(axis=-1).any()
        assert picture.mean_error is not None and np.isfinite(picture.mean_error)
    assert level_pictures(result)[0].error is None


def test_flow_strip_png_lays_out_the_final_level(texture):
    import io

    from PIL import Image

    from gocor_lite.pictures.flow import flow_strip_png

    target = to_uint8(texture[:, :, :64, :80].float())
    source = to_uint8(texture[:, :, 4:68, 6:86].float())
    result = estimate_flow(target, source, SMALL)
    truth = np.full((2, 64, 80), np.nan, dtype=np.float32)
    truth[:, 10:50, 10:60] = 3.0
    with_truth = Image.open(io.BytesIO(flow_strip_png(result, truth, title="t")))
    assert with_truth.size == (3 * 80 + 2 * 4, 64 + 18)  # flow | warped | error, a title band
    without = Image.open(io.BytesIO(flow_strip_png(result)))
    assert without.size == (2 * 80 + 4, 64)
    strip = np.asarray(with_truth.convert("RGB"))[18:]
    warped = result.to_numpy()[1]
    np.testing.assert_array_equal(strip[:, 84:164], warped)  # the middle panel is the warp
