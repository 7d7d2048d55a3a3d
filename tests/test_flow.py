# SPDX-License-Identifier: MIT
"""Flows: cells and pixels, warping, reading a match, the pictures of flows, and the flow
command (``python -m gocor_lite.cli.flow``) with this project's GLU-Net from a file of random
weights (and the authors' from a synthetic checkpoint): its ``.flo`` and ``.npy`` read back."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gocor_lite.cli.flow import main
from gocor_lite.core.warp import Frame, dense_flow, warp
from gocor_lite.data.examples import load_example
from gocor_lite.data.split import load_image
from gocor_lite.files.images import to_uint8
from gocor_lite.files.weights import load_small_glunet
from gocor_lite.reading.matching import argmax_position, soft_argmax_position
from tests.random_weights import write_random_small_glunet


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory):
    """A small-GLU-Net file of random weights (both variants)."""
    return write_random_small_glunet(tmp_path_factory.mktemp("weights") / "glunet_small.pt")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory):
    """Two overlapping crops of a photograph, 120x90 and 110x80 (sizes differ), as PNG files
    and as uint8 arrays."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    picture = to_uint8(load_image("astronaut", (160, 200)))
    target, source = picture[20:110, 30:150], picture[24:104, 36:146]
    paths = []
    for name, image in (("target.png", target), ("source.png", source)):
        Image.fromarray(image).save(folder / name)
        paths.append(str(folder / name))
    return paths, target, source


def pixel_grid(height: int, width: int) -> torch.Tensor:
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    return torch.stack([xs, ys])[None]  # (1, 2, H, W)


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


# -- cells, pixels and warping -------------------------------------------------------------------


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


# -- reading a match -----------------------------------------------------------------------------


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


# -- the flow command ----------------------------------------------------------------------------


def _read_flo_by_hand(path) -> tuple[int, int, np.ndarray]:
    """A Middlebury .flo file read with struct, as its format says: the float32 202021.25
    ('PIEH'), int32 width, int32 height, then (u, v) float32 pairs row by row, little-endian."""
    data = Path(path).read_bytes()
    assert data[:4] == b"PIEH"
    (magic,) = struct.unpack("<f", data[:4])
    assert magic == 202021.25
    width, height = struct.unpack("<ii", data[4:12])
    assert len(data) == 12 + 8 * width * height
    values = struct.unpack(f"<{2 * width * height}f", data[12:])
    u = np.array(values[0::2], dtype=np.float32).reshape(height, width)
    v = np.array(values[1::2], dtype=np.float32).reshape(height, width)
    return width, height, np.stack([u, v])


def test_the_command_writes_the_networks_flow_as_flo_and_npy(tmp_path, weights_file, images):
    (target_path, source_path), target, source = images
    network = load_small_glunet("gocor", path=weights_file)
    expected = network.estimate_flow(target, source)[0].numpy()  # (2, 90, 120)
    flo, npy = tmp_path / "flow.flo", tmp_path / "flow.npy"
    given = [target_path, source_path, "--network-weights", str(weights_file)]
    assert main([*given, "--out", str(flo)]) == 0
    width, height, read = _read_flo_by_hand(flo)
    assert (width, height) == (120, 90)  # the target's grid
    np.testing.assert_array_equal(read, expected)
    assert main([*given, "--out", str(npy)]) == 0
    array = np.load(npy, allow_pickle=False)
    assert array.dtype == np.float32 and array.shape == (2, 90, 120)
    np.testing.assert_array_equal(array, expected)
    # --network correlation: the other variant of the same file.
    plain = load_small_glunet("correlation", path=weights_file).estimate_flow(target, source)
    assert main([*given, "--network", "correlation", "--out", str(npy)]) == 0
    np.testing.assert_array_equal(np.load(npy), plain[0].numpy())
    assert not np.array_equal(plain[0].numpy(), expected)


def test_the_command_draws_every_level(tmp_path, weights_file, capsys):
    from PIL import Image

    out, saved = tmp_path / "flow.png", tmp_path / "flow.npy"
    args = ["--example", "chelsea-shift", "--network-weights", str(weights_file)]
    assert main([*args, "--out", str(out), "--save-flow", str(saved)]) == 0
    assert "GLU-Net-GOCor" in capsys.readouterr().out
    with Image.open(out) as picture:
        width, height = picture.size
    assert width > 500 and height > 5 * 200  # the images, then a row per level (at least 4)
    pair = load_example("chelsea-shift")
    assert np.load(saved).shape == (2, *pair.target.shape[:2])


def test_the_command_explains_what_is_wrong(tmp_path, capsys, weights_file):
    assert main([str(tmp_path / "missing.png"), str(tmp_path / "other.png")]) == 1
    assert "no image file" in capsys.readouterr().err
    missing = tmp_path / "glunet_small.pt"
    args = ["--example", "chelsea-shift", "--network-weights", str(missing)]
    assert main(args) == 1
    assert "run `make train`" in capsys.readouterr().err
    for old in ("train", "evaluate"):
        assert main([old]) == 2
        assert f"python -m gocor_lite.cli.{old}" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the authors' network has no variant to choose
        main(["--example", "chelsea-shift", "--weights", "x.pth", "--network", "correlation"])
    with pytest.raises(SystemExit):
        main(["--example", "chelsea-shift", "--save-flow", "flow.png"])


@pytest.mark.slow
def test_the_command_runs_the_authors_network(tmp_path, images):
    from gocor_lite.glunet import load_official_glunet
    from tests.test_glunet import random_checkpoint

    (target_path, source_path), target, source = images
    checkpoint = tmp_path / "GLUNet_GOCor_static.pth"
    torch.save(random_checkpoint(True), checkpoint)
    out = tmp_path / "flow.npy"
    assert main([target_path, source_path, "--weights", str(checkpoint), "--out", str(out)]) == 0
    expected = load_official_glunet(checkpoint).estimate_flow(target, source)[0].numpy()
    np.testing.assert_array_equal(np.load(out), expected)


# -- pictures ------------------------------------------------------------------------------------


def test_unknown_truth_colour_is_no_error_colour():
    from matplotlib import colormaps

    from gocor_lite.pictures.flow_colours import ERROR_COLORMAP, UNKNOWN_COLOUR

    assert ERROR_COLORMAP == "magma"
    every_error = np.round(colormaps["magma"](np.linspace(0, 1, 1024))[:, :3] * 255)
    # At least 150 grey levels (L1 over RGB) away from the nearest error colour.
    assert np.abs(every_error - np.asarray(UNKNOWN_COLOUR)).sum(axis=1).min() > 150


def test_flow_pictures_for_an_app():
    from gocor_lite.pictures.flow_colours import UNKNOWN_COLOUR, flow_pictures

    pair = load_example("chelsea-shift")
    assert pair.flow is not None
    true = pair.flow  # NaN where the match is outside the source
    shift = np.nanmean(true.reshape(2, -1), axis=1)
    pictures = flow_pictures({"truth": true, "zero": np.zeros_like(true)}, pair.source, true)
    assert [p.title for p in pictures] == ["truth", "zero"]
    unknown = ~np.isfinite(true[0])
    for picture in pictures:
        for image in (picture.flow, picture.warped_source, picture.error):
            assert image is not None and image.shape == (*true.shape[1:], 3)
            assert image.dtype == np.uint8
        assert picture.error is not None
        # Unknown truth has its own colour, and no error value is drawn in it (not black: black
        # is a perfect 0 px error).
        assert (picture.error[unknown] == UNKNOWN_COLOUR).all()
        assert not (picture.error[~unknown] == UNKNOWN_COLOUR).all(axis=-1).any()
    assert pictures[0].mean_error == 0.0  # the truth against itself
    assert pictures[1].mean_error == pytest.approx(float(np.hypot(*shift)), rel=1e-5)
    # Warping by the true (constant) shift reproduces the target where the match is known.
    warped = pictures[0].warped_source.astype(int)
    assert np.abs(warped[~unknown] - pair.target[~unknown].astype(int)).max() <= 1
    assert flow_pictures({"zero": np.zeros_like(true)}, pair.source)[0].error is None
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        flow_pictures({"bad": np.zeros((3, 4, 4))}, pair.source)


def test_glunet_level_pictures_follow_the_trace(weights_file):
    from gocor_lite.pictures.flow_colours import glunet_level_pictures

    pair = load_example("chelsea-shift")
    trace = load_small_glunet("gocor", path=weights_file).trace(pair.target, pair.source)
    pictures = glunet_level_pictures(trace, pair.source, pair.flow)
    assert [p.title for p in pictures] == [view.title for view in trace.levels]
    assert pictures[0].title.startswith("level 4: global GOCor")
    for picture, view in zip(pictures, trace.levels, strict=True):
        assert picture.flow.shape == (*pair.target.shape[:2], 3)
        error = np.hypot(*(view.flow[0].numpy() - pair.flow))
        assert picture.mean_error == pytest.approx(float(np.nanmean(error)), rel=1e-5)


def test_flow_strip_png_lays_out_one_flow():
    import io

    from PIL import Image

    from gocor_lite.pictures.flow_colours import flow_pictures, flow_strip_png

    pair = load_example("chelsea-shift")
    assert pair.flow is not None
    height, width = pair.target.shape[:2]
    flow = np.nan_to_num(pair.flow)
    with_truth = Image.open(io.BytesIO(flow_strip_png(flow, pair.source, pair.flow, title="t")))
    assert with_truth.size == (3 * width + 2 * 4, height + 18)  # flow | warped | error, a title
    without = Image.open(io.BytesIO(flow_strip_png(flow, pair.source)))
    assert without.size == (2 * width + 4, height)
    strip = np.asarray(with_truth.convert("RGB"))[18:]
    warped = flow_pictures({"": flow}, pair.source)[0].warped_source
    middle = slice(width + 4, 2 * width + 4)
    np.testing.assert_array_equal(strip[:, middle], warped)  # the middle panel is the warp
